//! `ChromaSink`: batch-core's `Sink` over one Chroma collection.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use batch_core::{ItemCheck, ItemOutcome, Sink, SinkError, SinkLimits};

use crate::body::{self, EmbeddingEncoding};
use crate::collection::Collection;
use crate::error::ChromaError;
use crate::record::ChromaRecord;
use crate::validate::RecordValidator;
use crate::write_mode::WriteMode;

/// Chroma refuses bodies over 40 MiB with 413.
pub const MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

/// Room kept under [`MAX_BODY_BYTES`] for the body's keys and brackets,
/// which [`Sink::encoded_size`] does not count.
const ENVELOPE_BYTES: usize = 4096;

/// Writes batches of [`ChromaRecord`]s to one collection.
///
/// Records are validated when they are added (the batcher runs the sink's
/// [`item_check`](Sink::item_check), so a bad record never reaches a
/// batch). Per batch, duplicate ids are resolved as the [`WriteMode`] says, in
/// [`WriteMode::Add`] the ids that already exist are asked for and counted
/// as conflicts, and the rest goes out in one request.
#[derive(Debug)]
pub struct ChromaSink {
    collection: Collection,
    mode: WriteMode,
    encoding: EmbeddingEncoding,
    max_batch_size: NonZeroUsize,
    validator: RecordValidator,
    /// Ids of add requests that failed without a clear answer (timeout,
    /// 5xx): they may be on the server now because of us, so finding them
    /// there on the retry means written, not conflict.
    maybe_written: HashSet<String>,
}

impl ChromaSink {
    /// A sink for `collection`; reads the server's pre-flight checks once
    /// (per client) to learn `max_batch_size` and base64 support.
    pub fn new(collection: Collection, mode: WriteMode) -> Result<Self, ChromaError> {
        let pre_flight = collection.client().pre_flight()?;
        let encoding = if pre_flight.supports_base64_encoding {
            EmbeddingEncoding::Base64
        } else {
            EmbeddingEncoding::JsonFloats
        };
        let max_batch_size =
            NonZeroUsize::new(pre_flight.max_batch_size).ok_or_else(|| ChromaError::Response {
                url: collection.client().base_url().to_owned(),
                message: "pre-flight-checks reports max_batch_size 0".to_owned(),
            })?;
        let validator = RecordValidator::new(collection.dimension());
        Ok(Self {
            collection,
            mode,
            encoding,
            max_batch_size,
            validator,
            maybe_written: HashSet::new(),
        })
    }

    /// Uses `encoding` instead of the one chosen from the pre-flight checks
    /// (e.g. to compare them, or for a server that misreports base64).
    #[must_use]
    pub fn with_encoding(mut self, encoding: EmbeddingEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Caps the records per request below the server's `max_batch_size`.
    #[must_use]
    pub fn with_max_batch_size(mut self, max: NonZeroUsize) -> Self {
        self.max_batch_size = self.max_batch_size.min(max);
        self
    }

    /// The collection written to.
    pub fn collection(&self) -> &Collection {
        &self.collection
    }

    /// The write mode.
    pub fn mode(&self) -> WriteMode {
        self.mode
    }

    /// The embedding encoding in use.
    pub fn encoding(&self) -> EmbeddingEncoding {
        self.encoding
    }

    /// The record checks (shared with an inserter built on this sink).
    pub fn validator(&self) -> &RecordValidator {
        &self.validator
    }

    /// Rows to send, after duplicate resolution; the other rows get their
    /// outcome here.
    fn select(
        &self,
        items: &[ChromaRecord],
        outcomes: &mut [Option<ItemOutcome<ChromaError>>],
    ) -> Vec<usize> {
        let mut chosen: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        for (i, record) in items.iter().enumerate() {
            match chosen.entry(record.id.as_str()) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                }
                std::collections::hash_map::Entry::Occupied(mut slot) => match self.mode {
                    WriteMode::Add => outcomes[i] = Some(ItemOutcome::Conflict),
                    WriteMode::Upsert => {
                        outcomes[*slot.get()] = Some(ItemOutcome::Conflict);
                        slot.insert(i);
                    }
                },
            }
        }
        let mut rows: Vec<usize> = chosen.into_values().collect();
        rows.sort_unstable();
        rows
    }
}

impl Sink for ChromaSink {
    type Item = ChromaRecord;
    type Error = ChromaError;

    fn write_batch(
        &mut self,
        items: &[ChromaRecord],
    ) -> Result<Vec<ItemOutcome<ChromaError>>, ChromaError> {
        let mut outcomes: Vec<Option<ItemOutcome<ChromaError>>> =
            std::iter::repeat_with(|| None).take(items.len()).collect();
        let mut rows = self.select(items, &mut outcomes);

        if self.mode == WriteMode::Add && !rows.is_empty() {
            let existing: HashSet<String> = self
                .collection
                .existing_ids(rows.iter().map(|&i| items[i].id.as_str()))?
                .into_iter()
                .collect();
            rows.retain(|&i| {
                let id = &items[i].id;
                if !existing.contains(id) {
                    return true;
                }
                outcomes[i] = Some(if self.maybe_written.remove(id) {
                    ItemOutcome::Written
                } else {
                    ItemOutcome::Conflict
                });
                false
            });
        }

        // Records added while the dimension was unknown may not fit the one
        // a batch accepted meanwhile: refused here, not bisected by the server.
        rows.retain(|&i| match self.validator.check_dimension(&items[i]) {
            Ok(()) => true,
            Err(e) => {
                outcomes[i] = Some(ItemOutcome::Failed(e));
                false
            }
        });

        if !rows.is_empty() {
            let body = body::encode(items, &rows, self.encoding)
                .map_err(|e| ChromaError::Invalid(format!("cannot serialize the request: {e}")))?;
            if let Err(e) = self.collection.post(self.mode.suffix(), &body) {
                if self.mode == WriteMode::Add && e.is_retriable() {
                    self.maybe_written
                        .extend(rows.iter().map(|&i| items[i].id.clone()));
                }
                return Err(e);
            }
            // The server refuses a request of mixed dimensions, so all the
            // rows it accepted share the first one's.
            self.validator.learn(items[rows[0]].embedding.len());
            for &i in &rows {
                if self.mode == WriteMode::Add {
                    self.maybe_written.remove(&items[i].id);
                }
                outcomes[i] = Some(ItemOutcome::Written);
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    ItemOutcome::Failed(ChromaError::Invalid(
                        "internal: record left without an outcome".to_owned(),
                    ))
                })
            })
            .collect())
    }

    /// The record id: what a user needs to find a lost record again.
    fn item_key(item: &ChromaRecord) -> Option<String> {
        Some(item.id.clone())
    }

    fn limits(&self) -> SinkLimits {
        SinkLimits {
            max_items: Some(self.max_batch_size),
            max_bytes: NonZeroUsize::new(MAX_BODY_BYTES - ENVELOPE_BYTES),
        }
    }

    fn encoded_size(item: &ChromaRecord) -> usize {
        body::upper_bound(item)
    }

    fn item_check(&self) -> Option<ItemCheck<ChromaRecord>> {
        let validator = self.validator.clone();
        Some(std::sync::Arc::new(move |record: &ChromaRecord| {
            validator.check(record).map_err(|e| match e {
                ChromaError::Invalid(message) => message,
                other => other.to_string(),
            })
        }))
    }
}

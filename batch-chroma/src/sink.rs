//! `ChromaSink`: batch-core's `Sink` over one Chroma collection.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use batch_core::{ItemCheck, ItemOutcome, Sink, SinkLimits};

use crate::body::{self, EmbeddingEncoding};
use crate::client::PreFlight;
use crate::collection::Collection;
use crate::error::ChromaError;
use crate::metadata::{Metadata, MetadataValue};
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
/// as conflicts, and the rest goes out in one request. A replay (after a
/// request whose answer never came) reads the existing records' content
/// instead, so that the lost attempt's own records count as written.
#[derive(Debug)]
pub struct ChromaSink {
    collection: Collection,
    mode: WriteMode,
    /// Set by [`with_encoding`](Self::with_encoding); else the server's
    /// choice from the pre-flight checks.
    encoding: Option<EmbeddingEncoding>,
    /// Set by [`with_max_batch_size`](Self::with_max_batch_size).
    cap: Option<NonZeroUsize>,
    /// What the pre-flight checks said, once read.
    server: Option<ServerLimits>,
    validator: RecordValidator,
}

/// The parts of [`PreFlight`] the sink uses.
#[derive(Debug, Clone, Copy)]
struct ServerLimits {
    encoding: EmbeddingEncoding,
    max_batch_size: NonZeroUsize,
}

impl ServerLimits {
    fn from_pre_flight(pre_flight: PreFlight, url: &str) -> Result<Self, ChromaError> {
        let encoding = if pre_flight.supports_base64_encoding {
            EmbeddingEncoding::Base64
        } else {
            EmbeddingEncoding::JsonFloats
        };
        let max_batch_size =
            NonZeroUsize::new(pre_flight.max_batch_size).ok_or_else(|| ChromaError::Response {
                url: url.to_owned(),
                message: "pre-flight-checks reports max_batch_size 0".to_owned(),
            })?;
        Ok(Self {
            encoding,
            max_batch_size,
        })
    }
}

impl ChromaSink {
    /// A sink for `collection`. Sends no request: the server's pre-flight
    /// checks (`max_batch_size`, base64 support) are read at the first
    /// write, on the batcher's flusher thread, so that building an
    /// inserter never blocks the caller (e.g. a tokio worker) on the
    /// network. If the client has read them already
    /// ([`ChromaClient::pre_flight`](crate::ChromaClient::pre_flight)),
    /// they are used from the start.
    pub fn new(collection: Collection, mode: WriteMode) -> Result<Self, ChromaError> {
        let client = collection.client();
        let server = client
            .cached_pre_flight()
            .map(|p| ServerLimits::from_pre_flight(p, client.base_url()))
            .transpose()?;
        let validator = RecordValidator::new(collection.dimension());
        Ok(Self {
            collection,
            mode,
            encoding: None,
            cap: None,
            server,
            validator,
        })
    }

    /// Uses `encoding` instead of the one chosen from the pre-flight checks
    /// (e.g. to compare them, or for a server that misreports base64).
    #[must_use]
    pub fn with_encoding(mut self, encoding: EmbeddingEncoding) -> Self {
        self.encoding = Some(encoding);
        self
    }

    /// Caps the records per request below the server's `max_batch_size`.
    #[must_use]
    pub fn with_max_batch_size(mut self, max: NonZeroUsize) -> Self {
        self.cap = Some(self.cap.map_or(max, |cap| cap.min(max)));
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

    /// The embedding encoding in use: the one set with
    /// [`with_encoding`](Self::with_encoding), else the server's choice
    /// once the pre-flight checks are read (`None` before).
    pub fn encoding(&self) -> Option<EmbeddingEncoding> {
        self.encoding.or(self.server.map(|s| s.encoding))
    }

    /// Most records per request, as far as known: the cap set with
    /// [`with_max_batch_size`](Self::with_max_batch_size) and the server's
    /// `max_batch_size` once read.
    fn max_items(&self) -> Option<NonZeroUsize> {
        match (self.cap, self.server) {
            (Some(cap), Some(server)) => Some(cap.min(server.max_batch_size)),
            (cap, server) => cap.or(server.map(|s| s.max_batch_size)),
        }
    }

    /// The server's limits, read with the first write (on the flusher
    /// thread). A failure sends nothing; it is retried if the server may
    /// come back, else it hands the batch back (see [`ChromaError::PreFlight`]).
    fn server_limits(&mut self) -> Result<ServerLimits, ChromaError> {
        if let Some(server) = self.server {
            return Ok(server);
        }
        let client = self.collection.client();
        let server = client
            .pre_flight()
            .and_then(|p| ServerLimits::from_pre_flight(p, client.base_url()))
            .map_err(|e| ChromaError::PreFlight(Box::new(e)))?;
        self.server = Some(server);
        Ok(server)
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

impl ChromaSink {
    /// Writes `items`; in a `replay` of `/add`, an existing record with the
    /// same content as ours is counted as written (the lost attempt stored
    /// it), one with other content as a conflict.
    fn write(
        &mut self,
        items: &[ChromaRecord],
        replay: bool,
    ) -> Result<Vec<ItemOutcome<ChromaError>>, ChromaError> {
        let server = self.server_limits()?;
        // Only a batch built before the server's limit was known can be
        // over it: nothing is sent, batch-core splits it.
        if let Some(max) = self.max_items()
            && items.len() > max.get()
        {
            return Err(ChromaError::OverMaxBatchSize {
                records: items.len(),
                max: max.get(),
            });
        }
        let encoding = self.encoding.unwrap_or(server.encoding);
        let mut outcomes: Vec<Option<ItemOutcome<ChromaError>>> =
            std::iter::repeat_with(|| None).take(items.len()).collect();
        let mut rows = self.select(items, &mut outcomes);

        if self.mode == WriteMode::Add && !rows.is_empty() {
            let ids = rows.iter().map(|&i| items[i].id.as_str());
            let (existing, ours) = if replay {
                self.stored_as_ours(items, &rows)?
            } else {
                (
                    self.collection.existing_ids(ids)?.into_iter().collect(),
                    HashSet::new(),
                )
            };
            rows.retain(|&i| {
                let id = &items[i].id;
                if !existing.contains(id) {
                    return true;
                }
                outcomes[i] = Some(if ours.contains(id) {
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
            let body = body::encode(items, &rows, encoding)
                .map_err(|e| ChromaError::Invalid(format!("cannot serialize the request: {e}")))?;
            self.collection.post(self.mode.suffix(), &body)?;
            // The server refuses a request of mixed dimensions, so all the
            // rows it accepted share the first one's.
            self.validator.learn(items[rows[0]].embedding.len());
            for &i in &rows {
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

    /// The ids of `rows` that exist, and those of them whose stored content
    /// (embedding, metadata, document) is the record's own.
    fn stored_as_ours(
        &self,
        items: &[ChromaRecord],
        rows: &[usize],
    ) -> Result<(HashSet<String>, HashSet<String>), ChromaError> {
        let ids: Vec<&str> = rows.iter().map(|&i| items[i].id.as_str()).collect();
        let by_id: HashMap<&str, &ChromaRecord> = rows
            .iter()
            .map(|&i| (items[i].id.as_str(), &items[i]))
            .collect();
        let got = self.collection.get(&ids)?;
        let n = got.ids.len();
        let short = || ChromaError::Response {
            url: self.collection.client().base_url().to_owned(),
            message: format!("get answered {n} ids but fewer embeddings, metadatas or documents"),
        };
        let embeddings = got.embeddings.filter(|v| v.len() == n).ok_or_else(short)?;
        let metadatas = got.metadatas.filter(|v| v.len() == n).ok_or_else(short)?;
        let documents = got.documents.filter(|v| v.len() == n).ok_or_else(short)?;
        let mut ours = HashSet::new();
        for (k, id) in got.ids.iter().enumerate() {
            let Some(record) = by_id.get(id.as_str()) else {
                continue;
            };
            let same_metadata = match &metadatas[k] {
                Some(stored) => same_metadata(stored, &record.metadata),
                None => record.metadata.is_empty(),
            };
            if same_metadata
                && documents[k].as_deref() == record.document.as_deref()
                && same_embedding(&embeddings[k], &record.embedding)
            {
                ours.insert(id.clone());
            }
        }
        Ok((got.ids.into_iter().collect(), ours))
    }
}

/// Whether a stored embedding is `sent`: bit for bit (`l2`, `ip`), or, for
/// `cosine` collections, which hand back a normalized copy, the same
/// direction to within f32 rounding.
fn same_embedding(stored: &[f32], sent: &[f32]) -> bool {
    if stored.len() != sent.len() {
        return false;
    }
    if stored
        .iter()
        .zip(sent)
        .all(|(a, b)| a.to_bits() == b.to_bits())
    {
        return true;
    }
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let (n_stored, n_sent) = (norm(stored), norm(sent));
    if n_stored == 0.0 || n_sent == 0.0 {
        return false;
    }
    stored
        .iter()
        .zip(sent)
        .all(|(a, b)| (f64::from(*a) / n_stored - f64::from(*b) / n_sent).abs() <= 1e-5)
}

/// Whether stored metadata is `sent`. Floats may come back a unit or two
/// in the last place off (seen: `90.28571428571429` read back as
/// `90.28571428571428`), so they are compared to within 1e-12 relative.
fn same_metadata(stored: &Metadata, sent: &Metadata) -> bool {
    stored.len() == sent.len()
        && stored.iter().zip(sent).all(|((ks, vs), (k, v))| {
            ks == k
                && match (vs, v) {
                    (MetadataValue::Float(a), MetadataValue::Float(b)) => {
                        a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
                    }
                    _ => vs == v,
                }
        })
}

impl Sink for ChromaSink {
    type Item = ChromaRecord;
    type Error = ChromaError;
    const BACKEND: &'static str = "chroma";

    /// The same collection, mode and encoding; the HTTP agent's pool gives
    /// each concurrent request a connection of its own. The learned
    /// dimension is shared.
    fn sibling(&self) -> Option<Self> {
        Some(Self {
            collection: self.collection.clone(),
            mode: self.mode,
            encoding: self.encoding,
            cap: self.cap,
            server: self.server,
            validator: self.validator.clone(),
        })
    }

    fn write_batch(
        &mut self,
        items: &[ChromaRecord],
    ) -> Result<Vec<ItemOutcome<ChromaError>>, ChromaError> {
        self.write(items, false)
    }

    /// `/upsert` is idempotent: writing again is the replay. `/add` reads
    /// what is stored under the ids first, see [`ChromaSink`].
    fn replay_batch(
        &mut self,
        items: &[ChromaRecord],
    ) -> Result<Vec<ItemOutcome<ChromaError>>, ChromaError> {
        self.write(items, self.mode == WriteMode::Add)
    }

    /// The record id: what a user needs to find a lost record again.
    /// The record as JSON (feature `durable`).
    #[cfg(feature = "durable")]
    fn codec() -> Option<batch_core::Codec<ChromaRecord>> {
        Some(batch_core::Codec::json())
    }

    fn item_key(item: &ChromaRecord) -> Option<String> {
        Some(item.id.clone())
    }

    fn limits(&self) -> SinkLimits {
        SinkLimits {
            max_items: self.max_items(),
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

#[cfg(test)]
mod tests {
    use super::{same_embedding, same_metadata};
    use crate::metadata::metadata;

    #[test]
    fn floats_a_few_units_in_the_last_place_off_are_the_same_metadata() {
        let sent = metadata([("score", 90.285_714_285_714_29.into()), ("n", 1.into())]);
        let stored = metadata([("score", 90.285_714_285_714_28.into()), ("n", 1.into())]);
        assert!(same_metadata(&stored, &sent));
        let other = metadata([("score", 90.2857.into()), ("n", 1.into())]);
        assert!(!same_metadata(&other, &sent));
        let fewer = metadata([("score", 90.285_714_285_714_29.into())]);
        assert!(!same_metadata(&fewer, &sent));
        let int = metadata([("score", 90.285_714_285_714_29.into()), ("n", 1.0.into())]);
        assert!(
            !same_metadata(&int, &sent),
            "1 and 1.0 are different values"
        );
    }

    #[test]
    fn a_normalized_copy_is_the_same_embedding_and_another_vector_is_not() {
        let sent = [3.0_f32, 4.0, 0.1];
        assert!(same_embedding(&sent, &sent));
        let norm = (9.0_f32 + 16.0 + 0.01).sqrt();
        let cosine: Vec<f32> = sent.iter().map(|x| x / norm).collect();
        assert!(same_embedding(&cosine, &sent));
        assert!(!same_embedding(&[3.0, 4.0, 0.2], &sent));
        assert!(!same_embedding(&[3.0, 4.0], &sent));
        assert!(!same_embedding(&[0.0, 0.0, 0.0], &sent));
    }
}

//! `CouchSink`: batch-core's [`Sink`] on `POST /{db}/_bulk_docs`.
//!
//! One request per batch. Per-document results are matched by id and
//! answered per document, so a document the server accepted is never sent
//! again, whatever happens to its neighbours.

use std::collections::HashMap;
use std::sync::Arc;

use batch_core::http::HttpError;
use batch_core::{ItemCheck, ItemOutcome, Sink, SinkLimits};

use crate::bulk_result::{self, DocResult};
use crate::conflict::ConflictPolicy;
use crate::database::CouchDatabase;
use crate::doc::CouchDoc;
use crate::error::CouchError;
use crate::options::CouchOptions;
use crate::replay::is_own_copy;

type Outcome = ItemOutcome<CouchError>;

/// Writes batches of [`CouchDoc`]s with `_bulk_docs`.
///
/// # Duplicate ids within one batch
/// Decided before sending: the batch is cut into rounds, round `k` holding
/// the `k`-th occurrence of each id, sent one after the other in that
/// order. The outcome is the same as if the duplicates had been added in
/// separate batches: under [`ConflictPolicy::Skip`] the first occurrence
/// is stored and later ones count as conflicts; under
/// [`ConflictPolicy::Overwrite`] the last one wins. (Sent in one request,
/// the server would answer `conflict` for all but one of them, and which
/// one wins is not specified.)
///
/// # Whole-request failures
/// A failure of the first request of a batch is returned as `Err` (nothing
/// was written): batch-core retries it if transient, or bisects it if
/// permanent. 401, 403 and 404 (no permission, no database) are not the
/// documents' fault: batch-core's `ErrorClass::Fatal` hands every document
/// back once, without a fallback that would only repeat the same refusal.
/// A failure of a later
/// request (a duplicate round, an overwrite) fails only the documents of
/// that request, since earlier ones were written.
///
/// # Replays
/// A first request that timed out (batch-core's `OutcomeUnknown`) may
/// have been stored; batch-core retries it through `replay_batch`, where a
/// `conflict` for a document whose stored body is ours counts as written
/// (see the crate docs for why this and not `new_edits=false`).
#[derive(Debug)]
pub struct CouchSink {
    db: CouchDatabase,
    options: CouchOptions,
}

impl CouchSink {
    /// A sink writing to `db`.
    pub fn new(db: CouchDatabase, options: CouchOptions) -> Self {
        Self { db, options }
    }

    /// The database written to.
    pub fn database(&self) -> &CouchDatabase {
        &self.db
    }

    /// Sends one round (ids unique) and fills in its outcomes. `replay`:
    /// an earlier request of this round may have stored its documents.
    fn write_round(
        &self,
        items: &[CouchDoc],
        round: &[usize],
        replay: bool,
        outcomes: &mut [Option<Outcome>],
    ) -> Result<(), HttpError> {
        let answer = self.send(round.iter().map(|&i| items[i].encoded()))?;
        let mut conflicted = Vec::new();
        for &i in round {
            let id = items[i].id();
            outcomes[i] = Some(match lookup(&answer, id) {
                Ok(DocResult::Stored) => ItemOutcome::Written,
                Ok(DocResult::Conflict) => {
                    conflicted.push(i);
                    continue;
                }
                Ok(DocResult::Refused { error, reason }) => rejected(id, error, reason),
                Err(e) => ItemOutcome::Failed(e),
            });
        }
        if replay && !conflicted.is_empty() {
            conflicted = self.own_copies_written(items, conflicted, outcomes);
        }
        match self.options.conflict_policy {
            ConflictPolicy::Overwrite if !conflicted.is_empty() => {
                self.overwrite(items, conflicted, outcomes);
            }
            ConflictPolicy::Fail => {
                for i in conflicted {
                    outcomes[i] = Some(ItemOutcome::Failed(conflict(items[i].id())));
                }
            }
            _ => {
                for i in conflicted {
                    outcomes[i] = Some(ItemOutcome::Conflict);
                }
            }
        }
        Ok(())
    }

    /// In a replay, resolves as written each conflicting document whose
    /// stored body is ours (the lost request stored it), with one
    /// `_all_docs` request; returns the others, which conflict with
    /// someone else's copy.
    ///
    /// If the stored bodies cannot be read, under
    /// [`ConflictPolicy::Fail`] the documents come back with
    /// [`CouchError::NoResult`] (they may be ours); under the other policies
    /// they stay conflicts (`Skip`: stored either way; `Overwrite`: ours
    /// is written over whichever copy it is).
    fn own_copies_written(
        &self,
        items: &[CouchDoc],
        conflicted: Vec<usize>,
        outcomes: &mut [Option<Outcome>],
    ) -> Vec<usize> {
        let ids: Vec<&str> = conflicted.iter().map(|&i| items[i].id()).collect();
        let attachments = conflicted
            .iter()
            .any(|&i| items[i].doc().get("_attachments").is_some());
        let stored = match self.db.stored_docs(&ids, attachments) {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(documents = ids.len(), error = %e, "replay: cannot read the stored copies of conflicting documents");
                if self.options.conflict_policy != ConflictPolicy::Fail {
                    return conflicted;
                }
                let detail = format!(
                    "the server answered conflict after a request whose answer was lost, \
                     and the stored copy could not be read to tell whether it is this one: {e}"
                );
                for i in conflicted {
                    outcomes[i] = Some(ItemOutcome::Failed(CouchError::NoResult {
                        id: items[i].id().to_owned(),
                        detail: detail.clone(),
                    }));
                }
                return Vec::new();
            }
        };
        let before = conflicted.len();
        let others: Vec<usize> = conflicted
            .into_iter()
            .filter(|&i| {
                let own = stored
                    .get(items[i].id())
                    .is_some_and(|copy| is_own_copy(items[i].doc(), copy));
                if own {
                    outcomes[i] = Some(ItemOutcome::Written);
                }
                !own
            })
            .collect();
        tracing::debug!(
            own = before - others.len(),
            foreign = others.len(),
            "replay: conflicts checked against the stored copies"
        );
        others
    }

    /// Resends conflicting documents with their current `_rev`, as long
    /// as other writers keep winning and attempts remain.
    fn overwrite(
        &self,
        items: &[CouchDoc],
        mut pending: Vec<usize>,
        outcomes: &mut [Option<Outcome>],
    ) {
        for attempt in 1..=self.options.overwrite_attempts.max(1) {
            let ids: Vec<&str> = pending.iter().map(|&i| items[i].id()).collect();
            let sent = self.db.current_revs(&ids).and_then(|revs| {
                let bodies: Vec<Vec<u8>> = pending
                    .iter()
                    .map(|&i| {
                        let id = items[i].id();
                        items[i].encoded_with_rev(revs.get(id).map(String::as_str))
                    })
                    .collect();
                self.send(bodies.iter().map(Vec::as_slice))
            });
            let answer = match sent {
                Ok(answer) => answer,
                Err(e) => {
                    let e = Arc::new(e);
                    for &i in &pending {
                        outcomes[i] = Some(ItemOutcome::Failed(CouchError::Http(Arc::clone(&e))));
                    }
                    return;
                }
            };
            let mut again = Vec::new();
            for &i in &pending {
                let id = items[i].id();
                outcomes[i] = Some(match lookup(&answer, id) {
                    Ok(DocResult::Stored) => ItemOutcome::Written,
                    Ok(DocResult::Conflict) => {
                        again.push(i);
                        continue;
                    }
                    Ok(DocResult::Refused { error, reason }) => rejected(id, error, reason),
                    Err(e) => ItemOutcome::Failed(e),
                });
            }
            tracing::debug!(
                attempt,
                overwritten = pending.len() - again.len(),
                still_conflicting = again.len(),
                "overwrite round"
            );
            pending = again;
            if pending.is_empty() {
                return;
            }
        }
        for &i in &pending {
            outcomes[i] = Some(ItemOutcome::Failed(conflict(items[i].id())));
        }
    }

    /// One `_bulk_docs` request; a non-2xx status is an error, a 2xx body
    /// that cannot be read is an error per document (they may be stored).
    fn send<'a>(
        &self,
        docs: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Result<HashMap<String, DocResult>, String>, HttpError> {
        let body = self.db.bulk_docs(docs)?;
        Ok(bulk_result::parse(&body))
    }

    /// Writes a batch round by round. `replay`: an earlier request of
    /// these items may have stored them; only the first round can have
    /// been sent before (a failed first round ends the batch with `Err`).
    fn write(&self, items: &[CouchDoc], replay: bool) -> Result<Vec<Outcome>, CouchError> {
        let mut outcomes: Vec<Option<Outcome>> = items.iter().map(|_| None).collect();
        let rounds = rounds_by_id(items);
        for (r, round) in rounds.iter().enumerate() {
            let Err(error) = self.write_round(items, round, replay && r == 0, &mut outcomes) else {
                continue;
            };
            if r == 0 {
                return Err(error.into());
            }
            let error = Arc::new(error);
            for &i in rounds[r..].iter().flatten() {
                outcomes[i] = Some(ItemOutcome::Failed(CouchError::Http(Arc::clone(&error))));
            }
            break;
        }
        Ok(outcomes
            .into_iter()
            .zip(items)
            .map(|(outcome, item)| {
                outcome.unwrap_or_else(|| {
                    ItemOutcome::Failed(CouchError::NoResult {
                        id: item.id().to_owned(),
                        detail: "not sent (internal error)".to_owned(),
                    })
                })
            })
            .collect())
    }
}

impl Sink for CouchSink {
    type Item = CouchDoc;
    type Error = CouchError;
    const BACKEND: &'static str = "couch";

    /// The same database and options; the HTTP agent's pool gives each
    /// concurrent request a connection of its own.
    fn sibling(&self) -> Option<Self> {
        Some(Self {
            db: self.db.clone(),
            options: self.options.clone(),
        })
    }

    fn write_batch(&mut self, items: &[CouchDoc]) -> Result<Vec<Outcome>, CouchError> {
        self.write(items, false)
    }

    /// Like `write_batch`, but a `conflict` for a document of the first
    /// round whose stored body is ours counts as written: the request whose
    /// answer was lost stored it.
    fn replay_batch(&mut self, items: &[CouchDoc]) -> Result<Vec<Outcome>, CouchError> {
        self.write(items, true)
    }

    /// Id and value as JSON (feature `durable`).
    #[cfg(feature = "durable")]
    fn codec() -> Option<batch_core::Codec<CouchDoc>> {
        Some(batch_core::Codec::json())
    }

    /// The document id.
    fn item_key(item: &CouchDoc) -> Option<String> {
        Some(item.id().to_owned())
    }

    fn limits(&self) -> SinkLimits {
        SinkLimits {
            max_items: None,
            max_bytes: Some(self.options.max_request_bytes),
        }
    }

    /// The encoded document plus its separating comma.
    fn encoded_size(item: &CouchDoc) -> usize {
        item.encoded().len() + 1
    }

    /// A prepared document must still be valid under this sink's
    /// `max_doc_bytes` (a document refused earlier and added again through
    /// `add_doc` is refused again, not sent empty).
    fn item_check(&self) -> Option<ItemCheck<CouchDoc>> {
        let max_doc_bytes = self.options.max_doc_bytes;
        Some(Arc::new(move |doc: &CouchDoc| doc.check(max_doc_bytes)))
    }
}

/// Round `k` holds the `k`-th occurrence of each id, in batch order.
fn rounds_by_id(items: &[CouchDoc]) -> Vec<Vec<usize>> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut rounds: Vec<Vec<usize>> = vec![Vec::with_capacity(items.len())];
    for (i, item) in items.iter().enumerate() {
        let k = seen.entry(item.id()).or_insert(0);
        if *k == rounds.len() {
            rounds.push(Vec::new());
        }
        rounds[*k].push(i);
        *k += 1;
    }
    rounds
}

fn lookup(
    answer: &Result<HashMap<String, DocResult>, String>,
    id: &str,
) -> Result<DocResult, CouchError> {
    let no_result = |detail: String| CouchError::NoResult {
        id: id.to_owned(),
        detail,
    };
    match answer {
        Ok(results) => results
            .get(id)
            .cloned()
            .ok_or_else(|| no_result("the answer has no result for this id".to_owned())),
        Err(e) => Err(no_result(e.clone())),
    }
}

fn conflict(id: &str) -> CouchError {
    CouchError::Conflict { id: id.to_owned() }
}

fn rejected(id: &str, error: String, reason: String) -> Outcome {
    ItemOutcome::Failed(CouchError::Rejected {
        id: id.to_owned(),
        error,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(id: &str) -> CouchDoc {
        CouchDoc::new(json!({}), Some(id.into()), 1000).unwrap()
    }

    #[test]
    fn duplicates_go_to_later_rounds_in_order() {
        let items: Vec<CouchDoc> = ["a", "b", "a", "c", "a", "b"].map(doc).into();
        assert_eq!(
            rounds_by_id(&items),
            vec![vec![0, 1, 3], vec![2, 5], vec![4]]
        );
    }

    #[test]
    fn unique_ids_make_one_round() {
        let items: Vec<CouchDoc> = ["a", "b", "c"].map(doc).into();
        assert_eq!(rounds_by_id(&items), vec![vec![0, 1, 2]]);
    }
}

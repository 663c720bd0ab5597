//! `Stats`: counters with UDS3 v2.2's meanings, and its `get_stats()` map.

use std::collections::BTreeMap;

/// A consistent snapshot of a batcher's counters.
///
/// | counter | counts | UDS3 v2.2 |
/// |---|---|---|
/// | `total_received` | items `add` accepted | - |
/// | `total_refused` | items `add` handed straight back (invalid, too large, full, closed, full on the batcher's own thread) | - |
/// | `total_added` | accepted items whose values this batcher's request applied, as the server confirmed (see below) | `total_added` (Neo4j: `total_created`) |
/// | `total_conflicts` | accepted items the server already held, or whose key it keeps (an idempotent success, not written again), including an in-batch duplicate superseded by a later one | - |
/// | `total_failed` | accepted items handed back with an error (report, failure handler, or the log after `Drop`) | - |
/// | `uncollected` | of `total_failed`, those waiting for the next report | - |
/// | `adaptive_limit` | under adaptive concurrency, the batches in flight the limit settled at (a probe one step off not counted); 0 without | - |
/// | `pending` | accepted items buffered, not yet sent | `pending` |
/// | `in_flight` | accepted items sent (or queued for the flusher), not yet resolved | - |
/// | `total_batches` | batches taken from the buffer and written | `total_batches` |
/// | `total_fallbacks` | batches that failed as a whole and went to the fallback | `total_fallbacks` |
/// | `total_requests` | requests made to the server (batches, retries, fallback writes) | - |
/// | `total_retries` | retries of transient or outcome-unknown whole-batch errors | - |
/// | `total_deadlocks` | of the errors behind `total_retries`, deadlocks: the server rolled the request back because it waited for a lock held by another transaction ([`SinkError::is_deadlock`](crate::SinkError::is_deadlock)); each attempt that deadlocked counts once, its items are counted once when the batch ends | - |
/// | `total_replayed` | of `total_received`, items read back from the durable buffer at start | - |
/// | `total_dead_letters` | failed items nobody collected, written to the durable buffer's dead letters | - |
///
/// At any moment `total_added + total_conflicts + total_failed + pending +
/// in_flight == total_received`; refused items are in none of these.
///
/// # Written and conflict: one meaning on every backend
/// - **Written**: this batcher's request applied the item's values: it
///   created the record, or in an upsert mode changed an existing one
///   (PostgreSQL `ON CONFLICT DO UPDATE`, Chroma `/upsert`, Neo4j `MERGE`
///   with `SET +=`, CouchDB `Overwrite`). A replay after an unknown outcome
///   or a crash counts an item whose record holds its values as written,
///   once: the lost attempt most likely stored it, and no backend can tell
///   that from an identical record stored before.
/// - **Conflict**: the item was not applied because the server already
///   held it: its key, where the mode keeps what is there (PostgreSQL
///   `DO NOTHING`, Chroma `/add`, CouchDB's existing document under
///   `Skip`), or its very values, where the backend can tell (PostgreSQL's
///   `IS DISTINCT FROM` guard, Neo4j comparing the item's properties); and
///   an in-batch duplicate superseded by a later item with the same key.
///
/// Why this one: a counter then says what the batcher did to the server,
/// the same on every backend, so `total_added` is how many items changed
/// it (an upsert of 30,000 existing keys with new values is 30,000
/// written, not 30,000 conflicts), and each item is counted exactly once,
/// which keeps the sum above. It counts items, not records: two items
/// that change one record in two batches are two written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Items written: created or changed by this batcher's request (UDS3
    /// v2.2's `total_added`; only what the server confirmed, not what was
    /// handed to `add`). See the type's docs for the meaning on every backend.
    pub total_added: u64,
    /// Batches taken from the buffer and sent (UDS3 v2.2's `total_batches`).
    pub total_batches: u64,
    /// Batches that failed for good and went to the fallback
    /// (UDS3 v2.2's `total_fallbacks`).
    pub total_fallbacks: u64,
    /// Items found already present (their values, or their key in a mode
    /// that keeps it) or superseded in their batch: idempotent successes
    /// (`total_conflicts`).
    pub total_conflicts: u64,
    /// Items handed back to the caller with an error.
    pub total_failed: u64,
    /// Items `add` refused and returned at once (never counted as received).
    pub total_refused: u64,
    /// Retries of transient whole-batch errors.
    pub total_retries: u64,
    /// Requests the server rolled back as deadlocked
    /// ([`SinkError::is_deadlock`](crate::SinkError::is_deadlock)); each
    /// is also a retry (or the last error of a batch that ran out of them).
    pub total_deadlocks: u64,
    /// Requests made to the sink (batch writes, retries, fallback writes).
    pub total_requests: u64,
    /// Items accepted by `add`, and items replayed from the durable buffer.
    pub total_received: u64,
    /// Of `total_received`, items a crashed or closed batcher had accepted
    /// and not resolved, read back from the durable buffer at start.
    pub total_replayed: u64,
    /// Failed items nobody collected that went to the durable buffer's
    /// dead letters (at `Drop`, or found after a crash at start).
    pub total_dead_letters: u64,
    /// Items buffered, not yet sent (UDS3 v2.2's `pending`).
    pub pending: u64,
    /// Items sent to the sink or queued for it, not yet resolved.
    pub in_flight: u64,
    /// Failed items waiting to be collected by the next report; they count
    /// toward `max_pending`.
    pub uncollected: u64,
    /// Under adaptive concurrency, the batches in flight the limit settled
    /// at (a probe one step off not counted): what a new batcher for the
    /// same server may start from
    /// ([`BatcherSettings::adaptive_start`](crate::BatcherSettings::adaptive_start)).
    /// 0 without adaptive concurrency.
    pub adaptive_limit: u64,
}

impl Stats {
    /// UDS3 v2.2's `get_stats()` dictionary. `written_key` is the name the
    /// Python class used for written items: `"total_added"` for Chroma,
    /// PostgreSQL and CouchDB, `"total_created"` for Neo4j. The extra
    /// counters of this library follow under their own names.
    pub fn to_uds3_map(&self, written_key: &'static str) -> BTreeMap<&'static str, u64> {
        BTreeMap::from([
            (written_key, self.total_added),
            ("total_batches", self.total_batches),
            ("total_fallbacks", self.total_fallbacks),
            ("total_conflicts", self.total_conflicts),
            ("total_failed", self.total_failed),
            ("total_refused", self.total_refused),
            ("total_retries", self.total_retries),
            ("total_deadlocks", self.total_deadlocks),
            ("total_requests", self.total_requests),
            ("total_received", self.total_received),
            ("total_replayed", self.total_replayed),
            ("total_dead_letters", self.total_dead_letters),
            ("pending", self.pending),
            ("in_flight", self.in_flight),
            ("uncollected", self.uncollected),
            ("adaptive_limit", self.adaptive_limit),
        ])
    }
}

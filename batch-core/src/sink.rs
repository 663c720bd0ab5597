//! The `Sink` trait: what a backend implements to be batched.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use crate::error::SinkError;

/// Every backend's default deadline for one request: long enough for a
/// batch of the largest size a server takes, short enough that a server
/// which stops answering becomes a retried error instead of a hang. One
/// number for all four backends, so they behave alike when a server hangs.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An add-time check of one item, run on the adding thread before the item
/// is buffered (see [`Sink::item_check`]). `Err` carries the reason, which
/// comes back to the caller as [`BatchError::Invalid`](crate::BatchError::Invalid).
pub type ItemCheck<T> = Arc<dyn Fn(&T) -> Result<(), String> + Send + Sync>;

/// What happened to one item of a batch write.
#[derive(Debug)]
pub enum ItemOutcome<E> {
    /// The request applied the item's values: it created the record, or
    /// changed an existing one in an upsert mode; in a replay, also a
    /// record that holds the item's values (see [`Stats`](crate::Stats)
    /// for the one meaning every backend follows).
    Written,
    /// The item was already there (an idempotent conflict): the server
    /// held its values, or its key in a mode that keeps what is there, or
    /// a later item of the batch with the same key superseded it. Counted
    /// in `total_conflicts`, not retried, not a failure.
    Conflict,
    /// The item was refused; the other items of the batch are unaffected.
    /// It goes back to the caller with this error, unretried.
    Failed(E),
}

/// The hard limits of one request to the backend. The batcher never builds
/// a batch above them, whatever its own settings say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkLimits {
    /// Most items one request may carry (e.g. Chroma's `max_batch_size`).
    pub max_items: Option<NonZeroUsize>,
    /// Most bytes one request may carry, as counted by
    /// [`Sink::encoded_size`] (e.g. Chroma's 40 MiB, CouchDB's 8 MB per doc).
    pub max_bytes: Option<NonZeroUsize>,
}

/// A backend that writes batches of items.
///
/// The sink lives on the batcher's flusher thread and is only ever called
/// from there, so it needs `Send` but not `Sync`: a database connection can
/// be owned as is.
///
/// # Contract
/// - `Ok(outcomes)`: one outcome per item, in the order of `items`.
/// - `Err(e)` of any class but
///   [`OutcomeUnknown`](crate::ErrorClass::OutcomeUnknown): the request
///   failed as a whole and **none** of the items was written (the
///   transaction rolled back, or the server refused the request). The
///   batcher retries transient errors, splits on
///   [`ErrorClass::TooLarge`](crate::ErrorClass::TooLarge), and runs its
///   fallback on permanent ones.
/// - `Err(e)` of class [`OutcomeUnknown`](crate::ErrorClass::OutcomeUnknown):
///   the request was sent and its answer never came, so some or all items
///   may have been written. The batcher retries it through
///   [`replay_batch`](Self::replay_batch), never splits it, and hands the
///   items back with that error when its retries run out.
/// - A sink that knows it wrote some items before failing must answer per
///   item instead, so that nothing written is sent again.
/// - A call with exactly one item is the single-item write of the
///   fallback; a sink with a cheaper single-item path may take it there.
pub trait Sink: Send + 'static {
    /// The item type callers add.
    type Item: Send + 'static;
    /// The sink's error type, classified for retry.
    type Error: SinkError;

    /// The key of written items in UDS3 v2.2's `get_stats()` map
    /// ([`Batcher::get_stats`](crate::Batcher::get_stats)): `"total_added"`
    /// for most backends, `"total_created"` for Neo4j.
    const WRITTEN_KEY: &'static str = "total_added";

    /// The backend's name, the `backend` label of the batcher's metrics
    /// (feature `metrics`), e.g. `"postgres"`.
    const BACKEND: &'static str = "custom";

    /// Writes `items` in one request (or one transaction).
    fn write_batch(
        &mut self,
        items: &[Self::Item],
    ) -> Result<Vec<ItemOutcome<Self::Error>>, Self::Error>;

    /// Writes `items` again after an earlier attempt of the same items ended
    /// in [`OutcomeUnknown`](crate::ErrorClass::OutcomeUnknown): that attempt
    /// may have stored some or all of them. An item whose stored copy is
    /// this batch's own (same content) must come back
    /// [`Written`](ItemOutcome::Written), not [`Conflict`](ItemOutcome::Conflict),
    /// so that the batcher's counters equal what the server holds. Only
    /// replays pay for that check. The default writes again with
    /// [`write_batch`](Self::write_batch), which is right for a sink whose
    /// writes are idempotent and count a replay as written.
    fn replay_batch(
        &mut self,
        items: &[Self::Item],
    ) -> Result<Vec<ItemOutcome<Self::Error>>, Self::Error> {
        self.write_batch(items)
    }

    /// Another sink to the same target, on a connection of its own, for
    /// another batch in flight ([`max_in_flight`](crate::BatcherSettings::max_in_flight)).
    /// It must not do network I/O here (the batcher may be built inside an
    /// async runtime): connect at the first write. `None` (the default):
    /// this sink writes one batch at a time.
    fn sibling(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// Opens this sink's connection (and prepares what its first write
    /// needs) before it is given a batch. With
    /// [`adaptive_concurrency`](crate::BatcherSettings::adaptive_concurrency)
    /// the batcher calls it once on each writer's thread as the batcher
    /// starts, so that the limit, which grows a step at a time,
    /// never waits on a connection: across a network a connection costs
    /// several round trips, and the writers that joined the ramp one by one
    /// paid them one by one. The call runs on the library's own thread,
    /// never the caller's.
    ///
    /// A retriable error is forgotten: the first write connects again,
    /// with its retries. Any other error (authentication, a bad
    /// certificate, a missing table) fails that writer's first batch as a
    /// whole, unsent, so that it is not tried a second time. The default
    /// does nothing: a sink that connects cheaply (an HTTP agent) needs
    /// nothing ahead.
    fn connect_ahead(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// A short name of an item for logs and messages (its id or key, never
    /// its whole content), so a user reading that an item was lost knows
    /// which. `None` (the default): the item is not named.
    ///
    /// It is also the item's identity on the server: with
    /// [`max_in_flight`](crate::BatcherSettings::max_in_flight) above 1,
    /// two items with the same key are never written out of order (a
    /// batch waits while any of its keys is in flight). Items without a
    /// key are not ordered against each other.
    fn item_key(_item: &Self::Item) -> Option<String> {
        None
    }

    /// The backend's hard limits per request. Asked once, when the batcher
    /// is built.
    fn limits(&self) -> SinkLimits {
        SinkLimits::default()
    }

    /// An item's size on the wire in bytes, for byte limits. Called on the
    /// adding thread (hence no `self`), only when a byte limit is set; an
    /// estimate is fine as long as it is not smaller than the truth.
    fn encoded_size(_item: &Self::Item) -> usize {
        0
    }

    /// The check every item must pass before it is buffered: asked once,
    /// when the batcher is built, and then run by
    /// [`Batcher::add`](crate::Batcher::add) on the adding thread, so a bad
    /// item comes back at once, unsent, with one error shape for every
    /// backend. Items reaching [`write_batch`](Self::write_batch) have
    /// passed it, so the sink need not check them again. `None` (the
    /// default): every item is accepted.
    fn item_check(&self) -> Option<ItemCheck<Self::Item>> {
        None
    }

    /// How items are stored in the durable buffer
    /// ([`BatcherSettings::durable`](crate::BatcherSettings::durable)):
    /// `Some(Codec::json())` for an item type that is `Serialize +
    /// DeserializeOwned` (feature `durable`). `None` (the default): a
    /// batcher with a durable buffer refuses to start on this sink.
    fn codec() -> Option<crate::Codec<Self::Item>> {
        None
    }
}

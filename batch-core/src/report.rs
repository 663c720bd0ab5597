//! What comes back to the caller: failed items with their errors, and the
//! counts of a flush.

use crate::error::BatchError;

/// An item that was not written, handed back with the reason. Nothing is
/// dropped silently: every item a caller adds is written, counted as a
/// conflict, or comes back as one of these.
#[derive(Debug)]
pub struct FailedItem<T, E> {
    /// The item, unchanged, so the caller can retry, log or dead-letter it.
    pub item: T,
    /// Why it was not written.
    pub error: BatchError<E>,
}

impl<T, E: std::error::Error> std::fmt::Display for FailedItem<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item not written: {}", self.error)
    }
}

/// So that `add(item)?` works in functions returning `Box<dyn Error>`.
impl<T: std::fmt::Debug, E: std::error::Error + 'static> std::error::Error for FailedItem<T, E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T, E> FailedItem<T, E> {
    /// The error alone, dropping the item.
    pub fn into_error(self) -> BatchError<E> {
        self.error
    }
}

/// The items [`Batcher::add_many`](crate::Batcher::add_many) (or an
/// inserter's `add_many`) did not accept, each with its index in the input
/// and the error `add` would have given it. Every other item of the call
/// was accepted: a call is never all-or-nothing, so that one bad chunk
/// does not hold back a document's hundred good ones, and nothing comes
/// back twice.
#[derive(Debug)]
#[must_use = "the items not accepted are handed back here; dropping this drops them"]
pub struct AddManyError<T, E> {
    /// The items not accepted, in input order, each with its index in the
    /// input (never empty).
    pub failed: Vec<(usize, FailedItem<T, E>)>,
}

impl<T, E> AddManyError<T, E> {
    /// The indexes in the input of the items not accepted, in order.
    pub fn indexes(&self) -> Vec<usize> {
        self.failed.iter().map(|(index, _)| *index).collect()
    }

    /// The failed items alone, in input order, dropping their indexes.
    pub fn into_items(self) -> Vec<FailedItem<T, E>> {
        self.failed.into_iter().map(|(_, item)| item).collect()
    }
}

impl<T, E: std::error::Error> std::fmt::Display for AddManyError<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.failed.first() {
            Some((index, first)) => write!(
                f,
                "{} item(s) not accepted; the first, at index {index}: {}",
                self.failed.len(),
                first.error
            ),
            None => f.write_str("no item refused"),
        }
    }
}

/// So that `add_many(items)?` works in functions returning
/// `Box<dyn Error>`; the source is the first item's error.
impl<T: std::fmt::Debug, E: std::error::Error + 'static> std::error::Error for AddManyError<T, E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failed
            .first()
            .map(|(_, f)| &f.error as &(dyn std::error::Error + 'static))
    }
}

/// The result of [`Batcher::flush`](crate::Batcher::flush) or
/// [`Batcher::close`](crate::Batcher::close): what was resolved since the
/// previous report.
#[derive(Debug)]
#[must_use = "failed items are handed back here; dropping the report drops them"]
pub struct FlushReport<T, E> {
    /// Items written since the previous report.
    pub written: u64,
    /// Items found already present (idempotent conflicts) since the previous report.
    pub conflicts: u64,
    /// Items that failed since the previous report, from this flush or from
    /// automatic flushes inside `add` (unless a failure handler took them).
    pub failed: Vec<FailedItem<T, E>>,
    /// Items still buffered or in flight when the report was made: added by
    /// other threads meanwhile, or, after a `close` that timed out, still
    /// held by a hanging sink.
    pub pending: usize,
    /// Why the call returned without waiting for the items it shipped, if
    /// it did: `flush`, `flush_timeout`, `close` (and their async forms)
    /// called on the batcher's own thread, i.e. from its failure handler or
    /// its sink, cannot wait, since only that thread can resolve what they
    /// would wait for. They ship the buffer (and `close` closes the
    /// batcher) and return at once; the items shipped are written after
    /// the handler returns, and are counted in `pending` here.
    pub not_waited: Option<&'static str>,
}

impl<T, E> FlushReport<T, E> {
    /// `true` when nothing failed, nothing is left pending, and the call
    /// waited (see [`not_waited`](Self::not_waited)).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.pending == 0 && self.not_waited.is_none()
    }
}

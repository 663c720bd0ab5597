//! `QueryStats`: what the sink sent to the server, for tests and tuning.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of server round trips made by a sink. batch-core's `Stats`
/// counts items and batches; these count what the batch turned into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryStats {
    /// Write transactions attempted (one per batch write, retries included).
    pub transactions: u64,
    /// Write statements sent: one per label and per relationship type of
    /// each batch (the `UNWIND` queries).
    pub queries: u64,
    /// Routing tables fetched with Bolt's `ROUTE` (`neo4j://` schemes
    /// only): the first one, then one per refresh (its TTL ran out, the
    /// writer answered `Neo.ClientError.Cluster.NotALeader` or
    /// `Neo.ClientError.General.ForbiddenOnReadOnlyDatabase`, or the
    /// connection to the writer was lost).
    pub routing_tables: u64,
}

/// Shared between the sink (on the flusher thread) and its creator.
#[derive(Debug, Default)]
pub(crate) struct QueryCounters {
    transactions: AtomicU64,
    queries: AtomicU64,
    routing_tables: AtomicU64,
}

impl QueryCounters {
    pub(crate) fn record(&self, queries: usize) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.queries.fetch_add(queries as u64, Ordering::Relaxed);
    }

    /// One routing table fetched.
    pub(crate) fn record_routing_table(&self) {
        self.routing_tables.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> QueryStats {
        QueryStats {
            transactions: self.transactions.load(Ordering::Relaxed),
            queries: self.queries.load(Ordering::Relaxed),
            routing_tables: self.routing_tables.load(Ordering::Relaxed),
        }
    }
}

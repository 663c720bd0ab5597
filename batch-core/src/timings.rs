//! Where the time between batches goes: how long a writer stays idle
//! while a batch is ready for it (the hand-off), and how long it stays
//! idle at all between two batches. A batcher that keeps up with its
//! server spends almost nothing in the hand-off; time there is the
//! library's own overhead between round trips, which no faster server or
//! network removes. Read with [`Batcher::timings`](crate::Batcher::timings);
//! with the `metrics` feature the same figures go to
//! `uds3_batch_handoff_seconds` and `uds3_batch_writer_idle_seconds`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets of a [`Histogram`]: bucket `i` holds durations in
/// `[2^i, 2^(i+1))` nanoseconds (bucket 0 also holds 0 ns), so 40 reach
/// past 18 minutes.
const BUCKETS: usize = 40;

/// A snapshot of one batcher's between-batch timings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timings {
    /// Per batch: from the moment both the batch was cut and its writer
    /// had the answer to its previous request, to the start of this
    /// batch's request. The library's own idle time between batches,
    /// except where a batch was held back on purpose: under adaptive
    /// concurrency a writer above the limit stays idle, and a batch whose
    /// key is still in flight waits; both count here too.
    pub handoff: Histogram,
    /// Per batch after a writer's first: from the answer to the writer's
    /// previous request to the start of this one, whether or not a batch
    /// was waiting (a writer waiting for its adders is idle too).
    pub writer_idle: Histogram,
}

/// Durations in power-of-two buckets, with their exact count and sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    buckets: [u64; BUCKETS],
    count: u64,
    sum_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: [0; BUCKETS],
            count: 0,
            sum_ns: 0,
        }
    }
}

impl Histogram {
    /// Durations recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Their sum.
    pub fn total(&self) -> Duration {
        Duration::from_nanos(self.sum_ns)
    }

    /// Their mean; zero when none was recorded.
    pub fn mean(&self) -> Duration {
        Duration::from_nanos(self.sum_ns.checked_div(self.count).unwrap_or(0))
    }

    /// The `q` quantile (`0.0..=1.0`, clamped), as the upper bound of the
    /// bucket it falls in: at most twice the true value. Zero when none
    /// was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.count as f64 * q.clamp(0.0, 1.0)).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_nanos(1_u64 << (i + 1));
            }
        }
        Duration::from_nanos(1_u64 << BUCKETS)
    }
}

/// The shared, lock-free counterpart of [`Histogram`] the writers record
/// into.
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl AtomicHistogram {
    pub(crate) fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let bucket = (ns.max(1).ilog2() as usize).min(BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// One batcher's recorders, shared by its writers.
#[derive(Debug, Default)]
pub(crate) struct TimingsRecorder {
    pub(crate) handoff: AtomicHistogram,
    pub(crate) writer_idle: AtomicHistogram,
}

impl TimingsRecorder {
    pub(crate) fn snapshot(&self) -> Timings {
        Timings {
            handoff: self.handoff.snapshot(),
            writer_idle: self.writer_idle.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_bucket_upper_bounds_and_sums_are_exact() {
        let h = AtomicHistogram::default();
        for us in [1_u64, 2, 3, 100, 1000] {
            h.record(Duration::from_micros(us));
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 5);
        assert_eq!(s.total(), Duration::from_micros(1106));
        // 1000 ns is in [512, 1024): its bucket's bound is 1024 ns.
        assert_eq!(s.quantile(0.0), Duration::from_nanos(1024));
        // The median, 3 us = 3000 ns, is in [2048, 4096).
        assert_eq!(s.quantile(0.5), Duration::from_nanos(4096));
        // 1 ms = 1e6 ns is in [2^19, 2^20).
        assert_eq!(s.quantile(1.0), Duration::from_nanos(1 << 20));
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
        h.record(Duration::ZERO);
        assert_eq!(h.snapshot().quantile(0.0), Duration::from_nanos(2));
    }
}

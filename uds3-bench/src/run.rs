//! What one timed run measured: items, seconds, requests, and the add
//! latency and hand-off figures of the modes that take them.

/// One measured write of `items` items.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub items: usize,
    pub seconds: f64,
    pub requests: u64,
    /// Durable modes: how long one `add` took, median and 99th
    /// percentile, in microseconds.
    pub add_us: Option<(f64, f64)>,
    /// Library runs: the hand-off between batches (see
    /// `batch_core::Timings`): median and 99th percentile in
    /// microseconds, and its sum as a share of the run's seconds.
    pub handoff: Option<Handoff>,
}

/// One library run's hand-off figures.
#[derive(Debug, Clone, Copy)]
pub struct Handoff {
    pub p50_us: f64,
    pub p99_us: f64,
    pub share: f64,
}

impl Run {
    /// Items per second.
    pub fn rate(&self) -> f64 {
        self.items as f64 / self.seconds
    }

    /// The run with `seconds` of setup (starting the inserter, which
    /// may connect) on its clock: the raw paths connect on theirs.
    pub fn after_setup(self, seconds: f64) -> Run {
        Run {
            seconds: self.seconds + seconds,
            ..self
        }
    }
}

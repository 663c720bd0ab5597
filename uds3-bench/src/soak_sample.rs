//! One sample of a soak (and of its server-alone reference): what the
//! interval that ended at `elapsed_s` measured.

/// One sample: the interval that ended `elapsed_s` after the first add.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Seconds since the adds began, at the end of the interval.
    pub elapsed_s: f64,
    /// The interval's length, s.
    pub interval_s: f64,
    /// Rows the server confirmed in the interval (`total_added`).
    pub written: u64,
    /// `written` per second.
    pub items_per_s: f64,
    /// Rows `add` accepted per second (`total_received`).
    pub accepted_per_s: f64,
    /// The 99th percentile of the interval's add() calls, µs (at most
    /// 12.5% above the true value: the top of its histogram bucket).
    pub add_p99_us: Option<f64>,
    /// add() calls timed in the interval.
    pub adds: u64,
    /// Rows buffered, not yet sent (`Stats::pending`).
    pub pending: u64,
    /// Rows sent, not yet resolved (`Stats::in_flight`).
    pub in_flight: u64,
    /// Segment files of the durable log.
    pub segments: u64,
    /// Their size, bytes.
    pub segment_bytes: u64,
    /// The disk blocks they use, bytes.
    pub segment_disk_bytes: u64,
    /// Resident memory of this process, bytes (`VmRSS`: with the durable
    /// log's mapped pages).
    pub rss_bytes: u64,
    /// Of it, anonymous memory (`RssAnon`: the heap), bytes.
    pub rss_anon_bytes: u64,
    /// Open file descriptors of this process.
    pub fds: u64,
}

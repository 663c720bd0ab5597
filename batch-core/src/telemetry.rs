//! Opt-in metrics (feature `metrics`), through the `metrics` facade crate:
//! whatever exporter the application installed (Prometheus, OpenTelemetry,
//! StatsD) receives them; without one, or without the feature, they cost
//! nothing. Labels: `batcher` (the settings' name) and `backend`
//! ([`Sink::BACKEND`](crate::Sink::BACKEND)).
//!
//! The names and what they count are listed in the crate docs.

use std::time::Duration;

/// The labels of one batcher's metrics.
#[derive(Debug, Clone)]
pub(crate) struct Telemetry {
    #[cfg(feature = "metrics")]
    labels: [(&'static str, String); 2],
}

impl Telemetry {
    pub(crate) fn new(batcher: &str, backend: &'static str) -> Self {
        #[cfg(not(feature = "metrics"))]
        let _ = (batcher, backend);
        Self {
            #[cfg(feature = "metrics")]
            labels: [
                ("batcher", batcher.to_owned()),
                ("backend", backend.to_owned()),
            ],
        }
    }

    /// One request, answered or not, and how long it took.
    pub(crate) fn request(&self, latency: Duration) {
        #[cfg(feature = "metrics")]
        {
            metrics::counter!("uds3_batch_requests_total", &self.labels).increment(1);
            metrics::histogram!("uds3_batch_request_duration_seconds", &self.labels)
                .record(latency.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = latency;
    }

    /// A writer's idle time between two requests.
    pub(crate) fn writer_idle(&self, idle: Duration) {
        #[cfg(feature = "metrics")]
        metrics::histogram!("uds3_batch_writer_idle_seconds", &self.labels)
            .record(idle.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = idle;
    }

    /// How long a ready batch waited for its ready writer.
    pub(crate) fn handoff(&self, waited: Duration) {
        #[cfg(feature = "metrics")]
        metrics::histogram!("uds3_batch_handoff_seconds", &self.labels)
            .record(waited.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = waited;
    }

    /// One retry of a request.
    pub(crate) fn retry(&self) {
        #[cfg(feature = "metrics")]
        metrics::counter!("uds3_batch_retries_total", &self.labels).increment(1);
    }

    /// One request the server rolled back as deadlocked.
    pub(crate) fn deadlock(&self) {
        #[cfg(feature = "metrics")]
        metrics::counter!("uds3_batch_deadlocks_total", &self.labels).increment(1);
    }

    /// One batch resolved: its size, how its items ended, and its `age`
    /// since its oldest item was added (the add-to-written time of its
    /// longest waiting item, an upper bound for the others).
    pub(crate) fn batch(
        &self,
        items: usize,
        written: u64,
        conflicts: u64,
        failed: u64,
        age: Option<Duration>,
    ) {
        #[cfg(feature = "metrics")]
        {
            let l = &self.labels;
            metrics::counter!("uds3_batch_batches_total", l).increment(1);
            metrics::counter!("uds3_batch_items_written_total", l).increment(written);
            metrics::counter!("uds3_batch_items_conflicts_total", l).increment(conflicts);
            metrics::counter!("uds3_batch_items_failed_total", l).increment(failed);
            metrics::histogram!("uds3_batch_batch_items", l).record(items as f64);
            if let Some(age) = age {
                metrics::histogram!("uds3_batch_add_to_resolved_seconds", l)
                    .record(age.as_secs_f64());
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (items, written, conflicts, failed, age);
    }
}

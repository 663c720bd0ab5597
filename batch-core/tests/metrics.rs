//! Feature `metrics`: what a batcher records through the `metrics` facade
//! equals its own stats, per batcher and backend label. A small recorder
//! of this test stands in for the application's exporter.
#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use batch_core::testing::fake::{FakeItem, FakeScript};
use batch_core::testing::harness::{add_all, items, items_bad_where, quick_retry, start};
use batch_core::{Batcher, BatcherSettings, Fallback};
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// Counters and histogram samples by name and `batcher` label.
#[derive(Default)]
struct Recorded {
    counters: Mutex<HashMap<(String, String), Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<(String, String), Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().expect("samples").push(value);
    }
}

fn id(key: &Key) -> (String, String) {
    let batcher = key
        .labels()
        .find(|l| l.key() == "batcher")
        .map_or(String::new(), |l| l.value().to_owned());
    let backend = key
        .labels()
        .find(|l| l.key() == "backend")
        .map_or("-", |l| l.value());
    assert_eq!(backend, "custom", "the fake sink's backend label");
    (key.name().to_owned(), batcher)
}

struct TestRecorder(&'static Recorded);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.0.counters.lock().expect("counters");
        Counter::from_arc(Arc::clone(counters.entry(id(key)).or_default()))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.0.histograms.lock().expect("histograms");
        Histogram::from_arc(Arc::clone(histograms.entry(id(key)).or_default()))
    }
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<&'static Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let recorded: &'static Recorded = Box::leak(Box::default());
        metrics::set_global_recorder(TestRecorder(recorded)).expect("one recorder");
        recorded
    })
}

fn counter(name: &str, batcher: &str) -> u64 {
    recorded()
        .counters
        .lock()
        .expect("counters")
        .get(&(name.to_owned(), batcher.to_owned()))
        .map_or(0, |c| c.load(Ordering::Relaxed))
}

fn samples(name: &str, batcher: &str) -> Vec<f64> {
    recorded()
        .histograms
        .lock()
        .expect("histograms")
        .get(&(name.to_owned(), batcher.to_owned()))
        .map_or(Vec::new(), |h| h.0.lock().expect("samples").clone())
}

#[test]
fn counters_equal_the_stats_and_histograms_see_every_request() {
    recorded();
    let script = FakeScript {
        fail_first: 2,
        ..FakeScript::default().failing_items()
    };
    let settings = BatcherSettings::builder()
        .name("metrics-1")
        .batch_size(10)
        .max_in_flight(2)
        .fallback(Fallback::Bisect)
        .retry(quick_retry(5));
    let (b, _) = start(settings, script);
    let conflict_where = |item: FakeItem| FakeItem {
        conflict: item.id % 10 == 7,
        ..item
    };
    add_all(
        &b,
        items_bad_where(0..95, |id| id % 10 == 3).map(conflict_where),
    );
    let report = b.close(std::time::Duration::from_secs(10));
    let stats = b.stats();
    assert_eq!(report.pending, 0);
    assert_eq!(
        (stats.total_added, stats.total_conflicts, stats.total_failed),
        (76, 9, 10),
        "{stats:?}"
    );
    let name = "metrics-1";
    for (metric, stat) in [
        ("items_written", stats.total_added),
        ("items_conflicts", stats.total_conflicts),
        ("items_failed", stats.total_failed),
        ("batches", stats.total_batches),
        ("requests", stats.total_requests),
        ("retries", stats.total_retries),
    ] {
        let metric = format!("uds3_batch_{metric}_total");
        assert_eq!(counter(&metric, name), stat, "{metric}");
    }
    // Two sinks in flight, each failing its first two requests.
    assert_eq!(stats.total_retries, 4);
    let latencies = samples("uds3_batch_request_duration_seconds", name);
    assert_eq!(latencies.len() as u64, stats.total_requests);
    assert!(latencies.iter().all(|s| *s >= 0.0));
    let sizes = samples("uds3_batch_batch_items", name);
    assert_eq!(sizes.iter().sum::<f64>(), 95.0, "{sizes:?}");
    assert_eq!(sizes.len() as u64, stats.total_batches);
    let ages = samples("uds3_batch_add_to_resolved_seconds", name);
    assert_eq!(ages.len() as u64, stats.total_batches, "{ages:?}");
}

#[test]
fn add_to_resolved_is_the_age_of_the_oldest_item() {
    recorded();
    let settings = BatcherSettings::builder().name("metrics-age").batch_size(3);
    let (b, _) = start(settings, FakeScript::default());
    // Batch 1 waits 300 ms for its last item; batch 2 fills at once.
    add_all(&b, items(0..1));
    std::thread::sleep(std::time::Duration::from_millis(300));
    add_all(&b, items(1..6));
    let report = b.close(std::time::Duration::from_secs(10));
    assert!(report.is_complete());
    let ages = samples("uds3_batch_add_to_resolved_seconds", "metrics-age");
    assert_eq!(ages.len(), 2, "{ages:?}");
    // One writer (one in flight): a hand-off per batch, an idle time
    // between its two, and the same figures as `Batcher::timings`.
    let handoffs = samples("uds3_batch_handoff_seconds", "metrics-age");
    let idle = samples("uds3_batch_writer_idle_seconds", "metrics-age");
    assert_eq!(
        (handoffs.len(), idle.len()),
        (2, 1),
        "{handoffs:?} {idle:?}"
    );
    let timings = b.timings();
    assert_eq!(
        (timings.handoff.count(), timings.writer_idle.count()),
        (2, 1)
    );
    let secs = |d: std::time::Duration| d.as_secs_f64();
    assert!((secs(timings.writer_idle.total()) - idle[0]).abs() < 1e-6);
    let (old, young) = if ages[0] > ages[1] {
        (ages[0], ages[1])
    } else {
        (ages[1], ages[0])
    };
    assert!(
        old >= 0.3,
        "the first batch's oldest item waited 300 ms: {ages:?}"
    );
    assert!(young < old, "{ages:?}");
}

#[test]
fn deadlocks_are_counted_like_the_stats() {
    recorded();
    let name = "metrics-deadlocks";
    let settings = BatcherSettings::builder()
        .name(name)
        .batch_size(5)
        .build()
        .unwrap();
    let batcher = Batcher::new(
        batch_core::testing::deadlock::DeadlocksFirst { deadlocks: 3 },
        settings,
    )
    .unwrap();
    add_all(&batcher, 0..5);
    assert!(batcher.flush().is_complete());
    let stats = batcher.stats();
    assert_eq!(stats.total_deadlocks, 3, "{stats:?}");
    assert_eq!(counter("uds3_batch_deadlocks_total", name), 3);
}

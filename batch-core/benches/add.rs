//! ns per `Batcher::add` with a null sink: one thread, and 1/2/4/8 threads
//! sharing one batcher. Goal: at most 100 ns per add on one thread.
//!
//! `add_many_vs_add`: 100 items through one `add_many` call against 100
//! `add` calls, one thread, in memory (the durable buffer's side is in
//! `durable_add.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_core::{Batcher, BatcherSettings, ErrorClass, ItemOutcome, Sink, SinkError};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl SinkError for Never {
    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

/// Writes nothing and answers "written" at once: measures the batcher alone.
struct NullSink;

impl Sink for NullSink {
    type Item = u64;
    type Error = Never;
    fn write_batch(&mut self, items: &[u64]) -> Result<Vec<ItemOutcome<Never>>, Never> {
        Ok(items.iter().map(|_| ItemOutcome::Written).collect())
    }
}

fn batcher() -> Arc<Batcher<NullSink>> {
    let settings = BatcherSettings::builder()
        .name("bench")
        .batch_size(1000)
        .max_pending(64_000)
        .build()
        .expect("settings");
    Arc::new(Batcher::new(NullSink, settings).expect("spawn"))
}

fn add(c: &mut Criterion) {
    let mut group = c.benchmark_group("add");
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 2, 4, 8] {
        group.bench_with_input(
            BenchmarkId::new("threads", threads),
            &threads,
            |b, &threads| {
                b.iter_custom(|iters| {
                    let batcher = batcher();
                    let per_thread = iters.div_ceil(threads as u64);
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for t in 0..threads {
                            let batcher = Arc::clone(&batcher);
                            scope.spawn(move || {
                                for i in 0..per_thread {
                                    if batcher.add(t as u64 * per_thread + i).is_err() {
                                        panic!("add refused");
                                    }
                                }
                            });
                        }
                    });
                    let report = batcher.close(Duration::from_secs(60));
                    let elapsed = start.elapsed();
                    assert!(report.is_complete());
                    // Per add, as seen by the caller: total time / total adds.
                    elapsed.mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
                });
            },
        );
    }
    group.finish();
}

/// How a run hands its items to the batcher.
#[derive(Clone, Copy)]
enum Calls {
    /// `add`, one call per item.
    Adds,
    /// `add_many`, one call per 100 items.
    Many,
}

/// Items per call of `add_many`.
const CHUNK: u64 = 100;

fn add_many_vs_add(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_many_vs_add");
    group.throughput(Throughput::Elements(CHUNK));
    for (name, calls) in [("100_adds", Calls::Adds), ("add_many_100", Calls::Many)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let batcher = batcher();
                let start = Instant::now();
                for i in 0..iters {
                    let items = i * CHUNK..(i + 1) * CHUNK;
                    let refused = match calls {
                        Calls::Adds => items.map(|n| batcher.add(n)).any(|r| r.is_err()),
                        Calls::Many => batcher.add_many(items).is_err(),
                    };
                    assert!(!refused, "refused");
                }
                let report = batcher.close(Duration::from_secs(60));
                let elapsed = start.elapsed();
                assert!(report.is_complete());
                // Per 100 items, close included.
                elapsed
            });
        });
    }
    group.finish();
}

criterion_group!(benches, add, add_many_vs_add);
criterion_main!(benches);

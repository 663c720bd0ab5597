//! ns per `Batcher::add` with a null sink: one thread, and 1/2/4/8 threads
//! sharing one batcher. Goal: at most 100 ns per add on one thread.

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

criterion_group!(benches, add);
criterion_main!(benches);

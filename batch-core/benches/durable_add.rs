//! Items/s through one batcher shared by 16 threads with a null sink,
//! in memory and under each fsync policy of the durable buffer: what the
//! buffer itself costs per `add`, without a server's noise. Buffers live
//! in `$CARGO_TARGET_DIR` (else `target/`), not in `/tmp`, which may be a
//! tmpfs where an fsync is free.
//!
//! `durable_add_many_vs_add_16_threads`: the same 16 threads handing their
//! rows over as 100 `add` calls or as one `add_many` of 100, in memory and
//! under `Always` and `Interval(100ms)`: what one append and one sync per
//! call save against one per item.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_core::{
    Batcher, BatcherSettings, Codec, ErrorClass, Fsync, ItemOutcome, Sink, SinkError,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const THREADS: u64 = 16;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl SinkError for Never {
    fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

/// Writes nothing and answers "written" at once.
struct NullSink;

/// A row about the size of a chunk's metadata.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    id: String,
    title: String,
    n: u64,
}

impl Sink for NullSink {
    type Item = Row;
    type Error = Never;
    fn write_batch(&mut self, items: &[Row]) -> Result<Vec<ItemOutcome<Never>>, Never> {
        Ok(items.iter().map(|_| ItemOutcome::Written).collect())
    }
    fn codec() -> Option<Codec<Row>> {
        Some(Codec::json())
    }
}

/// The benchmarked batcher: batch 1000 on the null sink, with a durable
/// buffer in `dir` under `fsync` (in memory for `None`).
fn batcher(dir: &std::path::Path, fsync: Option<Fsync>) -> Arc<Batcher<NullSink>> {
    let mut builder = BatcherSettings::builder()
        .name("bench")
        .batch_size(1000)
        .max_pending(64_000);
    if let Some(fsync) = fsync {
        builder = builder.durable(dir).fsync(fsync);
    }
    Arc::new(Batcher::new(NullSink, builder.build().expect("settings")).expect("spawn"))
}

fn root() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
            PathBuf::from,
        )
        .join("durable-bench")
}

fn durable_add(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_add_16_threads");
    group.throughput(Throughput::Elements(1));
    let policies = [
        ("in-memory", None),
        ("always", Some(Fsync::Always)),
        ("every-batch", Some(Fsync::EveryBatch)),
        (
            "interval-100ms",
            Some(Fsync::Interval(Duration::from_millis(100))),
        ),
    ];
    std::fs::create_dir_all(root()).expect("bench dir");
    for (name, fsync) in policies {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir_in(root()).expect("dir");
                let batcher = batcher(dir.path(), fsync);
                let per_thread = iters.div_ceil(THREADS);
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for t in 0..THREADS {
                        let batcher = Arc::clone(&batcher);
                        scope.spawn(move || {
                            for i in 0..per_thread {
                                let row = Row {
                                    id: format!("doc-{t}-{i}"),
                                    title: "Verwaltungsgericht, Urteil vom 1. Januar".to_owned(),
                                    n: i,
                                };
                                if batcher.add(row).is_err() {
                                    panic!("add refused");
                                }
                            }
                        });
                    }
                });
                let report = batcher.close(Duration::from_secs(60));
                let elapsed = start.elapsed();
                assert!(report.is_complete());
                elapsed.mul_f64(iters as f64 / (per_thread * THREADS) as f64)
            });
        });
    }
    group.finish();
}

/// Row `i` of thread `t`.
fn row(t: u64, i: u64) -> Row {
    Row {
        id: format!("doc-{t}-{i}"),
        title: "Verwaltungsgericht, Urteil vom 1. Januar".to_owned(),
        n: i,
    }
}

/// Rows per `add_many` call (and per group of `add` calls).
const CHUNK: u64 = 100;

fn durable_add_many_vs_add(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_add_many_vs_add_16_threads");
    group.throughput(Throughput::Elements(CHUNK));
    let policies = [
        ("in-memory", None),
        ("always", Some(Fsync::Always)),
        (
            "interval-100ms",
            Some(Fsync::Interval(Duration::from_millis(100))),
        ),
    ];
    std::fs::create_dir_all(root()).expect("bench dir");
    for (policy, fsync) in policies {
        for many in [false, true] {
            let name = format!(
                "{policy}/{}",
                if many { "add_many_100" } else { "100_adds" }
            );
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| {
                    let dir = tempfile::tempdir_in(root()).expect("dir");
                    let batcher = batcher(dir.path(), fsync);
                    let per_thread = iters.div_ceil(THREADS);
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for t in 0..THREADS {
                            let batcher = Arc::clone(&batcher);
                            scope.spawn(move || {
                                for call in 0..per_thread {
                                    let rows =
                                        (call * CHUNK..(call + 1) * CHUNK).map(|i| row(t, i));
                                    let refused = if many {
                                        batcher.add_many(rows).is_err()
                                    } else {
                                        rows.map(|r| batcher.add(r)).any(|r| r.is_err())
                                    };
                                    assert!(!refused, "refused");
                                }
                            });
                        }
                    });
                    let report = batcher.close(Duration::from_secs(60));
                    let elapsed = start.elapsed();
                    assert!(report.is_complete());
                    // Per 100 rows, as seen by the caller.
                    elapsed.mul_f64(iters as f64 / (per_thread * THREADS) as f64)
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, durable_add, durable_add_many_vs_add);
criterion_main!(benches);

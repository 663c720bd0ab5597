//! Property tests of the flush and fallback invariants: random sequences of
//! add / flush / close from several threads against a fake sink that fails
//! whole batches (transient and permanent), fails single items, reports
//! conflicts and sleeps.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use batch_core::testing::fake::{BadItems, FakeItem, FakeScript, FakeSink};
use batch_core::{BatchError, Batcher, BatcherSettings, Fallback, RetryPolicy};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add {
        bad: bool,
        conflict: bool,
        size: usize,
    },
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (prop::bool::weighted(0.1), prop::bool::weighted(0.1), 1usize..8)
            .prop_map(|(bad, conflict, size)| Op::Add { bad, conflict, size }),
        1 => Just(Op::Flush),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    threads: Vec<Vec<Op>>,
    batch_size: usize,
    max_bytes: Option<usize>,
    fallback: Fallback,
    bad_items: BadItems,
    transient_pct: u8,
    permanent_pct: u8,
    sleep_us: u64,
    seed: u64,
    close_from_thread: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(prop::collection::vec(op(), 0..60), 1..5),
        1usize..12,
        prop::option::of(8usize..30),
        prop_oneof![
            Just(Fallback::Bisect),
            Just(Fallback::PerItem),
            Just(Fallback::None)
        ],
        prop_oneof![Just(BadItems::FailBatch), Just(BadItems::FailItem)],
        0u8..30,
        0u8..15,
        0u64..300,
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                threads,
                batch_size,
                max_bytes,
                fallback,
                bad_items,
                transient_pct,
                permanent_pct,
                sleep_us,
                seed,
                close_from_thread,
            )| Case {
                threads,
                batch_size,
                max_bytes,
                fallback,
                bad_items,
                transient_pct,
                permanent_pct,
                sleep_us,
                seed,
                close_from_thread,
            },
        )
}

/// Where each item ended, from the caller's side.
#[derive(Debug, Default)]
struct Seen {
    accepted: Vec<FakeItem>,
    refused_at_add: Vec<u64>,
    failed: Vec<u64>,
    reported_written: u64,
    reported_conflicts: u64,
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let script = FakeScript {
        seed: case.seed,
        transient_pct: case.transient_pct,
        permanent_pct: case.permanent_pct,
        max_sleep: Duration::from_micros(case.sleep_us),
        bad_items: case.bad_items,
        ..FakeScript::default()
    };
    let (sink, record) = FakeSink::new(script);
    let mut builder = BatcherSettings::builder()
        .batch_size(case.batch_size)
        .fallback(case.fallback)
        .retry(
            RetryPolicy::new(3, Duration::ZERO, Duration::ZERO, Duration::from_secs(10))
                .expect("policy"),
        );
    if let Some(bytes) = case.max_bytes {
        builder = builder.max_batch_bytes(std::num::NonZeroUsize::new(bytes).expect("non-zero"));
    }
    let batcher = Arc::new(Batcher::new(sink, builder.build().expect("settings")).expect("spawn"));
    let seen = std::sync::Mutex::new(Seen::default());

    std::thread::scope(|scope| {
        for (t, ops) in case.threads.iter().enumerate() {
            let batcher = Arc::clone(&batcher);
            let seen = &seen;
            scope.spawn(move || {
                for (i, op) in ops.iter().enumerate() {
                    match op {
                        Op::Add {
                            bad,
                            conflict,
                            size,
                        } => {
                            let item = FakeItem {
                                id: (t as u64) << 32 | i as u64,
                                thread: t as u32,
                                bad: *bad,
                                conflict: *conflict,
                                size: *size,
                            };
                            match batcher.add(item.clone()) {
                                Ok(()) => seen.lock().expect("seen").accepted.push(item),
                                Err(refused) => {
                                    assert!(matches!(
                                        refused.error,
                                        BatchError::TooLarge { .. } | BatchError::Closed
                                    ));
                                    seen.lock()
                                        .expect("seen")
                                        .refused_at_add
                                        .push(refused.item.id);
                                }
                            }
                        }
                        Op::Flush => {
                            let report = batcher.flush();
                            let mut s = seen.lock().expect("seen");
                            s.reported_written += report.written;
                            s.reported_conflicts += report.conflicts;
                            s.failed.extend(report.failed.iter().map(|f| f.item.id));
                        }
                    }
                }
                if t == 0 && case.close_from_thread {
                    let report = batcher.close(Duration::from_secs(60));
                    let mut s = seen.lock().expect("seen");
                    s.reported_written += report.written;
                    s.reported_conflicts += report.conflicts;
                    s.failed.extend(report.failed.iter().map(|f| f.item.id));
                }
            });
        }
    });
    let report = batcher.close(Duration::from_secs(60));
    let mut seen = seen.into_inner().expect("seen");
    seen.reported_written += report.written;
    seen.reported_conflicts += report.conflicts;
    seen.failed.extend(report.failed.iter().map(|f| f.item.id));
    prop_assert_eq!(report.pending, 0, "pending after close");

    let stats = batcher.stats();
    let rec = record.lock().expect("record").clone();
    let accepted: HashSet<u64> = seen.accepted.iter().map(|i| i.id).collect();
    let written: Vec<u64> = rec.written.iter().map(|i| i.id).collect();

    // Every accepted item ends in exactly one outcome.
    let mut outcomes: HashMap<u64, usize> = HashMap::new();
    for id in written.iter().chain(&rec.conflicts).chain(&seen.failed) {
        *outcomes.entry(*id).or_default() += 1;
    }
    prop_assert!(
        outcomes.values().all(|&n| n == 1),
        "an item has two outcomes"
    );
    let resolved: HashSet<u64> = outcomes.keys().copied().collect();
    prop_assert_eq!(
        &resolved,
        &accepted,
        "resolved items differ from accepted items"
    );
    prop_assert_eq!(
        written.len() + rec.conflicts.len() + seen.failed.len(),
        seen.accepted.len()
    );

    // Stats agree with the sink's own record and with the reports.
    prop_assert_eq!(stats.total_added, written.len() as u64);
    prop_assert_eq!(stats.total_conflicts, rec.conflicts.len() as u64);
    prop_assert_eq!(stats.total_failed, seen.failed.len() as u64);
    prop_assert_eq!(stats.total_requests, rec.requests.len() as u64);
    prop_assert_eq!(stats.total_received, seen.accepted.len() as u64);
    prop_assert_eq!((stats.pending, stats.in_flight), (0, 0));
    prop_assert_eq!(seen.reported_written, stats.total_added);
    prop_assert_eq!(seen.reported_conflicts, stats.total_conflicts);
    // Bad items are never written.
    prop_assert!(rec.written.iter().all(|i| !i.bad));

    // No request exceeds the item or byte limit.
    prop_assert!(
        rec.requests
            .iter()
            .all(|r| !r.is_empty() && r.len() <= case.batch_size)
    );
    if let Some(limit) = case.max_bytes {
        prop_assert!(
            rec.request_bytes.iter().all(|&b| b <= limit),
            "{:?}",
            rec.request_bytes
        );
    }

    // One batch in flight: each thread's items reach the sink in add order.
    let mut last: HashMap<u32, u64> = HashMap::new();
    for item in &rec.written {
        if let Some(prev) = last.insert(item.thread, item.id) {
            prop_assert!(
                prev < item.id,
                "thread {} out of order: {} after {}",
                item.thread,
                item.id,
                prev
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_item_ends_in_exactly_one_outcome(case in case()) {
        run(&case)?;
    }
}

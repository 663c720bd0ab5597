//! Property tests of the flush and fallback invariants: random sequences of
//! add / flush / close from several threads against a fake sink that fails
//! whole batches (transient, permanent, fatal, too large), loses the answer
//! of a request it applied, answers with a wrong outcome count, panics,
//! hangs, fails single items and reports conflicts; with a failure handler
//! (sometimes panicking), `WhenFull::Reject`, linger and sink limits; items
//! are added with `add` or `add_async`, flushed with `flush`,
//! `flush_timeout` or `flush_async`.
//!
//! With 1, 2 or 4 batches in flight (each on a sibling sink sharing the
//! record; fixed or adaptive), and items that share keys within a thread.
//!
//! The invariant: every accepted item ends exactly once, as written, as a
//! conflict, or handed back (in a report, to the handler, or in the log
//! after `Drop`, which the test reads), and the counters equal the fake's
//! record.

mod log_capture;

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use batch_core::testing::block_on::block_on;
use batch_core::testing::fake::{BadItems, FakeItem, FakeScript};
use batch_core::testing::harness::{fake_sinks, quick_retry, snapshot, wait_dropped};
use batch_core::{Batcher, BatcherSettings, Fallback, FlushReport, SinkLimits, WhenFull};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Add {
        bad: bool,
        conflict: bool,
        size: usize,
        /// Through `add_async` instead of `add`.
        via_async: bool,
    },
    Flush,
    FlushTimeout,
    FlushAsync,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        14 => (prop::bool::weighted(0.1), prop::bool::weighted(0.1), 1usize..8, any::<bool>())
            .prop_map(|(bad, conflict, size, via_async)| Op::Add { bad, conflict, size, via_async }),
        1 => Just(Op::Flush),
        1 => Just(Op::FlushTimeout),
        1 => Just(Op::FlushAsync),
    ]
}

/// How failed items reach the caller.
#[derive(Debug, Clone, Copy)]
enum Handler {
    /// Through reports only.
    None,
    /// A handler that panics on every n-th call (0: never).
    PanicEvery(u64),
}

#[derive(Debug, Clone)]
struct Faults {
    transient_pct: u8,
    permanent_pct: u8,
    fatal_pct: u8,
    unknown_pct: u8,
    wrong_count_pct: u8,
    too_large_above: Option<usize>,
    /// Panic on the n-th item of thread 0.
    panic_on: Option<u64>,
    /// Every request hangs until the batcher was closed (timed out) and
    /// dropped: the rest is resolved in the background and only logged.
    hang: bool,
}

#[derive(Debug, Clone)]
struct Case {
    threads: Vec<Vec<Op>>,
    batch_size: usize,
    max_items: Option<usize>,
    max_bytes: Option<usize>,
    pending_factor: usize,
    when_full: WhenFull,
    linger_us: Option<u64>,
    fallback: Fallback,
    bad_items: BadItems,
    attempts: u32,
    handler: Handler,
    faults: Faults,
    sleep_us: u64,
    seed: u64,
    close_from_thread: bool,
    /// Batches written at once, each on its own sink.
    in_flight: usize,
    /// The in-flight count follows latency, up to `in_flight`.
    adaptive: bool,
    /// Items of a thread share a key with every `key_cycle`-th item before
    /// them (the same document updated again); `None`: unique keys.
    key_cycle: Option<u64>,
}

fn faults() -> impl Strategy<Value = Faults> {
    (
        0u8..25,
        0u8..12,
        prop_oneof![6 => Just(0u8), 1 => 1u8..8],
        prop_oneof![2 => Just(0u8), 1 => 1u8..30],
        prop_oneof![6 => Just(0u8), 1 => 1u8..8],
        prop::option::weighted(0.2, 1usize..6),
        prop::option::weighted(0.08, 0u64..40),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(
                transient_pct,
                permanent_pct,
                fatal_pct,
                unknown_pct,
                wrong_count_pct,
                too_large_above,
                panic_on,
                hang,
            )| Faults {
                transient_pct,
                permanent_pct,
                fatal_pct,
                unknown_pct,
                wrong_count_pct,
                too_large_above,
                panic_on,
                hang,
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            prop::collection::vec(prop::collection::vec(op(), 0..50), 1..5),
            1usize..12,
            prop::option::weighted(0.2, 1usize..8),
            prop::option::of(8usize..30),
            1usize..5,
            prop_oneof![Just(WhenFull::Block), Just(WhenFull::Reject)],
            prop::option::weighted(0.2, 100u64..3000),
        ),
        (
            prop_oneof![
                Just(Fallback::Bisect),
                Just(Fallback::PerItem),
                Just(Fallback::None)
            ],
            prop_oneof![Just(BadItems::FailBatch), Just(BadItems::FailItem)],
            1u32..4,
            prop_oneof![
                3 => Just(Handler::None),
                1 => Just(Handler::PanicEvery(0)),
                1 => (2u64..5).prop_map(Handler::PanicEvery),
            ],
            faults(),
            0u64..150,
            any::<u64>(),
            any::<bool>(),
        ),
        (
            prop_oneof![Just(1usize), Just(2), Just(4)],
            prop::option::weighted(0.5, 1u64..6),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (threads, batch_size, max_items, max_bytes, pending_factor, when_full, linger_us),
                (fallback, bad_items, attempts, handler, faults, sleep_us, seed, close_from_thread),
                (in_flight, key_cycle, adaptive),
            )| Case {
                threads,
                batch_size,
                max_items,
                max_bytes,
                pending_factor,
                when_full,
                linger_us,
                fallback,
                bad_items,
                attempts,
                handler,
                faults,
                sleep_us,
                seed,
                close_from_thread,
                in_flight,
                adaptive,
                key_cycle,
            },
        )
}

/// Where each item ended, from the caller's side.
#[derive(Debug, Default)]
struct Seen {
    accepted: Vec<FakeItem>,
    refused_at_add: u64,
    /// Handed back in reports.
    reported: Vec<u64>,
    /// Taken by the failure handler.
    handled: Vec<u64>,
    reported_written: u64,
    reported_conflicts: u64,
}

impl Seen {
    fn take<E>(&mut self, report: &FlushReport<FakeItem, E>) {
        self.reported_written += report.written;
        self.reported_conflicts += report.conflicts;
        self.reported
            .extend(report.failed.iter().map(|f| f.item.id));
    }
}

static CASE: AtomicU64 = AtomicU64::new(0);

fn run(case: &Case) -> Result<(), TestCaseError> {
    log_capture::install();
    let name = format!("prop{}", CASE.fetch_add(1, Ordering::Relaxed));
    let f = &case.faults;
    let script = FakeScript {
        seed: case.seed,
        transient_pct: f.transient_pct,
        permanent_pct: f.permanent_pct,
        fatal_pct: f.fatal_pct,
        unknown_pct: f.unknown_pct,
        wrong_count_pct: f.wrong_count_pct,
        too_large_above: f.too_large_above,
        panic_on: f.panic_on,
        max_sleep: Duration::from_micros(case.sleep_us),
        bad_items: case.bad_items,
        limits: SinkLimits {
            max_items: case.max_items.and_then(NonZeroUsize::new),
            max_bytes: None,
        },
        ..FakeScript::default()
    };
    let (script, release) = match f.hang {
        true => {
            let (script, release) = script.hanging();
            (script, Some(release))
        }
        false => (script, None),
    };
    let (sinks, record) = fake_sinks(script, case.in_flight);
    let mut builder = BatcherSettings::builder()
        .name(name.clone())
        .max_in_flight(case.in_flight)
        .adaptive_concurrency(case.adaptive)
        .batch_size(case.batch_size)
        .max_pending(case.batch_size * case.pending_factor)
        .when_full(if f.hang {
            WhenFull::Reject
        } else {
            case.when_full
        })
        .fallback(case.fallback)
        .close_timeout(Duration::from_millis(5))
        .retry(quick_retry(case.attempts));
    if let Some(bytes) = case.max_bytes {
        builder = builder.max_batch_bytes(NonZeroUsize::new(bytes).expect("non-zero"));
    }
    if let Some(us) = case.linger_us {
        builder = builder.linger(Duration::from_micros(us));
    }
    let settings = builder.build().expect("settings");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let batcher = Batcher::with_sinks(sinks, settings).expect("spawn");
    match case.handler {
        Handler::None => {}
        Handler::PanicEvery(n) => {
            let seen = Arc::clone(&seen);
            let calls = AtomicU64::new(0);
            batcher.set_failure_handler(move |failed| {
                let call = calls.fetch_add(1, Ordering::Relaxed) + 1;
                if n > 0 && call.is_multiple_of(n) {
                    panic!("the test's handler panics on call {call}");
                }
                seen.lock().expect("seen").handled.push(failed.item.id);
            });
        }
    }
    let batcher = Arc::new(batcher);
    // A hanging sink holds every flush; the test waits on none of them.
    let short = Duration::from_millis(2);
    let close_timeout = if f.hang {
        short
    } else {
        Duration::from_secs(60)
    };

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
                            via_async,
                        } => {
                            let id = (t as u64) << 32 | i as u64;
                            let item = FakeItem {
                                id,
                                thread: t as u32,
                                bad: *bad,
                                conflict: *conflict,
                                size: *size,
                                key: case
                                    .key_cycle
                                    .map_or(id, |cycle| (t as u64) << 32 | (i as u64 % cycle)),
                            };
                            let added = if *via_async {
                                block_on(batcher.add_async(item.clone()))
                            } else {
                                batcher.add(item.clone())
                            };
                            match added {
                                Ok(()) => seen.lock().expect("seen").accepted.push(item),
                                Err(_) => seen.lock().expect("seen").refused_at_add += 1,
                            }
                        }
                        Op::FlushAsync if !f.hang => {
                            let report = block_on(batcher.flush_async());
                            seen.lock().expect("seen").take(&report);
                        }
                        Op::Flush if !f.hang => {
                            let report = batcher.flush();
                            seen.lock().expect("seen").take(&report);
                        }
                        Op::Flush | Op::FlushTimeout | Op::FlushAsync => {
                            let report = batcher.flush_timeout(short);
                            seen.lock().expect("seen").take(&report);
                        }
                    }
                }
                if t == 0 && case.close_from_thread {
                    let report = batcher.close(close_timeout);
                    seen.lock().expect("seen").take(&report);
                }
            });
        }
    });
    let report = batcher.close(close_timeout);
    seen.lock().expect("seen").take(&report);
    let stats = batcher.stats();
    if !f.hang {
        prop_assert_eq!(report.pending, 0, "pending after close");
    }
    // Drop the batcher (its Drop logs what it cannot hand back), then let
    // a hanging sink go on: what fails after that can only be logged.
    let batcher = Arc::into_inner(batcher).expect("the last handle");
    drop(batcher);
    drop(release);
    wait_dropped(&record);
    let logged_keys = log_capture::lost_items(&name);

    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    let rec = snapshot(&record);
    let accepted: HashSet<u64> = seen.accepted.iter().map(|i| i.id).collect();
    let written: Vec<u64> = rec.written.iter().map(|i| i.id).collect();
    let unconfirmed: HashSet<u64> = rec.unconfirmed.iter().copied().collect();
    // The log names items by key: give each logged key to one accepted item
    // with that key that no other way resolved (ids, when keys are unique).
    let logged = {
        let resolved_elsewhere: HashSet<u64> = written
            .iter()
            .filter(|id| !unconfirmed.contains(id))
            .chain(&rec.conflicts)
            .chain(&seen.reported)
            .chain(&seen.handled)
            .copied()
            .collect();
        let mut open: HashMap<u64, Vec<u64>> = HashMap::new();
        for item in seen.accepted.iter().rev() {
            if !resolved_elsewhere.contains(&item.id) {
                open.entry(item.key).or_default().push(item.id);
            }
        }
        logged_keys
            .iter()
            .map(|key| {
                open.get_mut(key)
                    .and_then(Vec::pop)
                    .unwrap_or(u64::MAX - *key)
            })
            .collect::<Vec<u64>>()
    };
    let handed_back: Vec<u64> = seen
        .reported
        .iter()
        .chain(&seen.handled)
        .chain(&logged)
        .copied()
        .collect();
    let handed_back_set: HashSet<u64> = handed_back.iter().copied().collect();

    // A stored item whose answer was lost and never confirmed was handed
    // back: that is the one case where an item is both stored and failed.
    prop_assert!(
        unconfirmed.is_subset(&handed_back_set),
        "an unconfirmed write was neither confirmed nor handed back"
    );
    let confirmed: Vec<u64> = written
        .iter()
        .copied()
        .filter(|id| !unconfirmed.contains(id))
        .collect();

    // Every accepted item ends in exactly one outcome.
    let mut outcomes: HashMap<u64, usize> = HashMap::new();
    for id in confirmed.iter().chain(&rec.conflicts).chain(&handed_back) {
        *outcomes.entry(*id).or_default() += 1;
    }
    let doubled: Vec<_> = outcomes.iter().filter(|(_, n)| **n != 1).collect();
    prop_assert!(doubled.is_empty(), "items with two outcomes: {:?}", doubled);
    let resolved: HashSet<u64> = outcomes.keys().copied().collect();
    prop_assert_eq!(
        &resolved,
        &accepted,
        "resolved items differ from accepted items (logged: {:?})",
        logged
    );

    // Bad items are never written.
    prop_assert!(rec.written.iter().all(|i| !i.bad));
    // No request exceeds the item or byte limit.
    let max_items = case
        .max_items
        .map_or(case.batch_size, |m| m.min(case.batch_size));
    prop_assert!(
        rec.requests
            .iter()
            .all(|r| !r.is_empty() && r.len() <= max_items)
    );
    if let Some(limit) = case.max_bytes {
        prop_assert!(rec.request_bytes.iter().all(|&b| b <= limit));
    }
    // Items with the same key reach the sink in add order, however many
    // batches are in flight; with one in flight, each thread's items do.
    let mut last: HashMap<u64, u64> = HashMap::new();
    for item in &rec.written {
        let order_key = if case.in_flight == 1 {
            u64::from(item.thread)
        } else {
            item.key
        };
        if let Some(prev) = last.insert(order_key, item.id) {
            prop_assert!(
                prev < item.id,
                "key {} out of order: {} after {}",
                order_key,
                item.id,
                prev
            );
        }
    }

    // The counters equal the fake's record and the reports, unless a
    // hanging sink was still working when they were read.
    prop_assert_eq!(stats.total_received, seen.accepted.len() as u64);
    prop_assert_eq!(stats.total_refused, seen.refused_at_add);
    if !f.hang {
        prop_assert_eq!(stats.total_added, confirmed.len() as u64);
        prop_assert_eq!(stats.total_conflicts, rec.conflicts.len() as u64);
        prop_assert_eq!(stats.total_failed, handed_back.len() as u64);
        prop_assert_eq!(stats.total_requests, rec.requests.len() as u64);
        prop_assert_eq!((stats.pending, stats.in_flight), (0, 0));
        prop_assert_eq!(seen.reported_written, stats.total_added);
        prop_assert_eq!(seen.reported_conflicts, stats.total_conflicts);
        prop_assert!(logged.is_empty(), "nothing is left to the log");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_item_ends_in_exactly_one_outcome(case in case()) {
        run(&case)?;
    }
}

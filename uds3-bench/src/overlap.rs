//! Issue 31's concurrency rows: relationships whose endpoints overlap,
//! written with 1, 2, 4, 8 and 16 batches in flight and with adaptive
//! concurrency (up to 16) on the real Neo4j server. Every batch of 100
//! touches most of the 100 start nodes, so batches in flight wait for
//! each other's node locks, and can deadlock.
//!
//! Per run: items/s, the deadlocks the server reported
//! (`Neo.TransientError.Transaction.DeadlockDetected`, retried whole by
//! the library: `total_deadlocks`) and the retries, lock waits sampled on
//! the server (`SHOW TRANSACTIONS` every [`SAMPLE_EVERY`] on a connection
//! of its own, without the added round trip: the transactions seen
//! `Blocked by` another, and the sum over them of the longest `waitTime`
//! seen, a lower bound of the time spent waiting for locks), and, checked
//! on the server, relationships lost and relationships counted twice.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use batch_core::BatcherSettings;
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig, Neo4jSink, Properties, PropertyValue};
use test_support::test_servers::Endpoints;

use crate::drive::CLOSE_TIMEOUT;
use crate::stats::median;

/// Start nodes; each batch of [`BATCH`] reaches most of them.
const DOCS: usize = 100;
/// End nodes per start node (all pairs are written).
const CHUNKS: usize = 100;
const BATCH: usize = 100;
/// The in-flight levels; `0` stands for adaptive, up to the last level.
const LEVELS: [usize; 6] = [1, 2, 4, 8, 16, 0];
/// How often the server's transactions are sampled for lock waits.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// The goal: this many in flight over one, at [`GOAL_RTT_MS`].
const GOAL_LEVEL: usize = 4;
const GOAL_RTT_MS: u32 = 10;
const GOAL_RATIO: f64 = 1.5;

/// One row: a round trip and an in-flight level over its rounds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OverlapRecord {
    pub rtt_ms: u32,
    /// Batches in flight, or `adaptive`.
    pub in_flight: String,
    pub items: usize,
    /// Median over rounds.
    pub items_per_s: f64,
    /// Median of per-round ratios to one in flight (same round).
    pub of_one: f64,
    /// Summed over rounds.
    pub deadlocks: u64,
    pub retries: u64,
    /// Transactions seen blocked by another, summed over rounds.
    pub blocked_seen: u64,
    /// Median over rounds of the summed longest `waitTime` seen, ms.
    pub lock_wait_ms: f64,
    /// Summed over rounds: relationships missing on the server, and
    /// relationships the library counted beyond those on the server.
    pub lost: u64,
    pub counted_twice: u64,
    pub rounds: usize,
}

/// One run's figures.
struct Sample {
    rate: f64,
    deadlocks: u64,
    retries: u64,
    blocked_seen: u64,
    lock_wait_ms: f64,
    lost: u64,
    counted_twice: u64,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn config(uri: &str, endpoints: &Endpoints) -> Result<Neo4jConfig, String> {
    Neo4jConfig::new(
        uri,
        endpoints.neo4j_user.as_str(),
        endpoints.neo4j_password.as_str(),
    )
    .map_err(err)
}

/// The pairs in a fixed scrambled order (a multiplicative walk over all
/// `DOCS * CHUNKS` pairs), so that batches in flight share start nodes
/// and each meets them in an order of its own.
fn pairs(items: usize) -> Vec<(usize, usize)> {
    // 7919 is prime and divides no `DOCS * CHUNKS` used here: a permutation.
    (0..items)
        .map(|k| {
            let p = (k * 7919 + 13) % items;
            (p % DOCS, p / DOCS)
        })
        .collect()
}

/// The runs of one round trip: `routed` reaches the server through the
/// round trip's relay, `direct` without it (set-up, checks, sampling).
pub fn overlap(
    routed: &Endpoints,
    direct: &Endpoints,
    rtt_ms: u32,
    rounds: usize,
    quick: bool,
    say: &dyn Fn(String),
) -> Result<Vec<OverlapRecord>, String> {
    let began = Instant::now();
    let chunks = if quick { CHUNKS / 4 } else { CHUNKS };
    let items = DOCS * chunks;
    let (doc, chunk) = (format!("BOverDoc{rtt_ms}"), format!("BOverChunk{rtt_ms}"));
    let mut admin = Neo4jSink::connect(config(&direct.neo4j_uri, direct)?).map_err(err)?;
    admin.ensure_indexes(&[&doc, &chunk]).map_err(err)?;
    let ids = |prefix: &str, n: usize| {
        PropertyValue::List(
            (0..n)
                .map(|i| PropertyValue::from(format!("{prefix}-{i:04}")))
                .collect(),
        )
    };
    for (label, prefix, n) in [(&doc, "doc", DOCS), (&chunk, "chunk", chunks)] {
        admin
            .run_cypher(
                &format!("UNWIND $ids AS id MERGE (:{label} {{id: id}})"),
                &Properties::from([("ids".to_owned(), ids(prefix, n))]),
            )
            .map_err(err)?;
    }
    let graph = config(&routed.neo4j_uri, routed)?
        .labels(&doc, &chunk)
        .map_err(err)?;
    let pairs = pairs(items);
    let mut samples: HashMap<usize, Vec<Sample>> = HashMap::new();
    // One untimed warm-up, then the rounds, each level in turn.
    for round in 0..=rounds {
        for level in LEVELS {
            let sample = run(&graph, direct, &mut admin, &doc, &chunk, &pairs, level)?;
            if round > 0 {
                samples.entry(level).or_default().push(sample);
            }
        }
    }
    say(format!(
        "neo4j overlapping relationships: {rounds} rounds at rtt {rtt_ms} ms in {:.0} s",
        began.elapsed().as_secs_f64()
    ));
    let one: Vec<f64> = samples
        .get(&1)
        .map(|s| s.iter().map(|s| s.rate).collect())
        .unwrap_or_default();
    Ok(LEVELS
        .iter()
        .filter_map(|level| {
            let s = samples.get(level)?;
            let rates: Vec<f64> = s.iter().map(|s| s.rate).collect();
            let of_one = median(
                rates
                    .iter()
                    .zip(&one)
                    .map(|(r, o)| r / o.max(f64::MIN_POSITIVE))
                    .collect(),
            );
            Some(OverlapRecord {
                rtt_ms,
                in_flight: if *level == 0 {
                    "adaptive".to_owned()
                } else {
                    level.to_string()
                },
                items,
                items_per_s: median(rates),
                of_one,
                deadlocks: s.iter().map(|s| s.deadlocks).sum(),
                retries: s.iter().map(|s| s.retries).sum(),
                blocked_seen: s.iter().map(|s| s.blocked_seen).sum(),
                lock_wait_ms: median(s.iter().map(|s| s.lock_wait_ms).collect()),
                lost: s.iter().map(|s| s.lost).sum(),
                counted_twice: s.iter().map(|s| s.counted_twice).sum(),
                rounds: s.len(),
            })
        })
        .collect())
}

/// One timed run at `level` (0: adaptive) from no relationships.
fn run(
    graph: &Neo4jConfig,
    direct: &Endpoints,
    admin: &mut Neo4jSink,
    doc: &str,
    chunk: &str,
    pairs: &[(usize, usize)],
    level: usize,
) -> Result<Sample, String> {
    admin
        .run_cypher(
            &format!("MATCH (:{doc})-[r]->(:{chunk}) DELETE r"),
            &Properties::new(),
        )
        .map_err(err)?;
    let settings = BatcherSettings::builder()
        .name("bench-neo4j-overlap")
        .batch_size(BATCH)
        .max_in_flight(if level == 0 { 16 } else { level })
        .adaptive_concurrency(level == 0)
        .build()
        .map_err(err)?;
    let creator = Neo4jBatchCreator::with_settings(graph.clone(), settings).map_err(err)?;
    let stop = AtomicBool::new(false);
    let (started, report, stats, locks) = thread::scope(|scope| {
        let sampler = scope.spawn(|| sample_lock_waits(direct, &stop));
        let started = Instant::now();
        let added = pairs.iter().try_for_each(|&(d, c)| {
            creator
                .add_relationship(
                    format!("doc-{d:04}"),
                    format!("chunk-{c:04}"),
                    "HAS_CHUNK",
                    [("c", (c as i64).into())],
                )
                .map_err(|f| f.to_string())
        });
        let report = creator.close(CLOSE_TIMEOUT);
        let seconds = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let locks = sampler
            .join()
            .map_err(|_| "lock-wait sampler panicked".to_owned())
            .and_then(|r| r);
        (added.map(|()| seconds), report, creator.stats(), locks)
    });
    let seconds = started?;
    let (blocked_seen, lock_wait_ms) = locks?;
    if !report.failed.is_empty() {
        return Err(format!(
            "overlap at {level} in flight: {} failed (first: {})",
            report.failed.len(),
            report.failed[0].error
        ));
    }
    let rows = admin
        .run_cypher(
            &format!("MATCH (:{doc})-[r:HAS_CHUNK]->(:{chunk}) RETURN count(r)"),
            &Properties::new(),
        )
        .map_err(err)?;
    let on_server = match rows.first().and_then(|r| r.first()) {
        Some(Some(PropertyValue::Int(n))) => *n as u64,
        other => return Err(format!("unexpected count answer {other:?}")),
    };
    let items = pairs.len() as u64;
    Ok(Sample {
        rate: items as f64 / seconds,
        deadlocks: stats.total_deadlocks,
        retries: stats.total_retries,
        blocked_seen,
        lock_wait_ms,
        lost: items.saturating_sub(on_server),
        counted_twice: report.written.saturating_sub(on_server),
    })
}

/// Samples the server's transactions until `stop`: how many distinct
/// transactions were seen blocked by another, and the sum over them of
/// the longest `waitTime` seen (ms).
fn sample_lock_waits(direct: &Endpoints, stop: &AtomicBool) -> Result<(u64, f64), String> {
    let mut sink = Neo4jSink::connect(config(&direct.neo4j_uri, direct)?).map_err(err)?;
    let query = "SHOW TRANSACTIONS YIELD transactionId, status, waitTime \
                 WHERE status STARTS WITH 'Blocked' \
                 RETURN transactionId, waitTime.milliseconds";
    let mut longest: HashMap<String, i64> = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        for row in sink
            .run_cypher(query, &Properties::new())
            .map_err(|e| format!("SHOW TRANSACTIONS: {e}"))?
        {
            if let [Some(PropertyValue::String(id)), wait] = row.as_slice() {
                let ms = match wait {
                    Some(PropertyValue::Int(ms)) => *ms,
                    _ => 0,
                };
                let seen = longest.entry(id.clone()).or_default();
                *seen = (*seen).max(ms);
            }
        }
        thread::sleep(SAMPLE_EVERY);
    }
    Ok((longest.len() as u64, longest.values().sum::<i64>() as f64))
}

/// The rows as a Markdown table, then the goal read against them.
pub fn table(records: &[OverlapRecord]) -> String {
    let mut s = String::from(
        "| rtt ms | in flight | items/s | of 1 in flight | deadlocks | retries | blocked transactions seen | lock wait ms (sampled) | lost | counted twice |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in records {
        s.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {} | {} | {} | {:.0} | {} | {} |\n",
            r.rtt_ms,
            r.in_flight,
            r.items_per_s,
            r.of_one,
            r.deadlocks,
            r.retries,
            r.blocked_seen,
            r.lock_wait_ms,
            r.lost,
            r.counted_twice
        ));
    }
    let goal = records
        .iter()
        .find(|r| r.rtt_ms == GOAL_RTT_MS && r.in_flight == GOAL_LEVEL.to_string());
    if let Some(r) = goal {
        let clean = records.iter().all(|r| r.lost == 0 && r.counted_twice == 0);
        s.push_str(&format!(
            "\n{GOAL_LEVEL} in flight / 1 at {GOAL_RTT_MS} ms on overlapping relationships >= {GOAL_RATIO}: {:.2}, {}; lost and counted twice 0 in every row: {}\n",
            r.of_one,
            if r.of_one >= GOAL_RATIO {
                "met"
            } else {
                "not met"
            },
            if clean { "met" } else { "not met" },
        ));
    }
    s
}

/// `overlap.json` and `overlap.md` in `dir`.
pub fn write(dir: &std::path::Path, records: &[OverlapRecord]) -> std::io::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(records).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("overlap.json"), json)?;
    std::fs::write(dir.join("overlap.md"), table(records))
}

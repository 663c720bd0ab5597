//! Issue 33's soak (`--soak N`): N rows to PostgreSQL through one
//! `PostgreSQLBatchInserter` (batch 1000, 4 in flight, durable buffer
//! with `Fsync::Interval(100ms)`) from 8 adding threads, sampled at a
//! fixed interval: RSS, items/s, add() p99, pending, the durable log's
//! segments and open file descriptors. At the end the rows are counted on
//! the server and `soak.json`, `soak.md` and `soak.svg` are written, with
//! a verdict against the issue's goals: RSS flat, items/s without drift,
//! nothing lost. The same rows then go to the server without the library
//! (`soak_reference`), so that the drift can be read beside the server's
//! own. Whether memory, latency or the log drift over millions
//! of items is what no shorter run shows.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use batch_core::{BatcherSettings, Fsync};
use batch_postgres::{Connector, PostgreSQLBatchInserter, TableName};
use test_support::test_servers::Endpoints;

use crate::drive::{CLOSE_TIMEOUT, CountDown, incomplete};
use crate::mode::buffer_dir;
use crate::output::{Axis, Series, YAxis, draw, nice_step};
use crate::output::{rows_progress, say};
use crate::postgres;
use crate::soak_sample::Sample;
use crate::soak_table::{DropTable, count_rows, execute};

/// Rows per batch.
pub const BATCH_SIZE: usize = 1000;
/// Batches in flight at once.
pub const IN_FLIGHT: usize = 4;
/// Threads adding to the one inserter.
pub const THREADS: usize = 8;
/// The durable buffer's fsync interval.
pub const FSYNC_INTERVAL: Duration = Duration::from_millis(100);
/// The sample interval of a long run (the issue's 10 s).
pub const MAX_INTERVAL: Duration = Duration::from_secs(10);
/// The shortest sample interval, for short runs.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// Samples a run is planned to have at least: a short run samples more
/// often, so that its first and last tenth are more than one sample.
pub const PLANNED_SAMPLES: u32 = 50;
/// The rate a run's interval is planned from, rows/s: on the low side of
/// what the bench's durable rows measure (about 190,000/s from 16
/// threads), so that a faster run has more samples, not fewer.
pub const PLANNED_RATE: f64 = 100_000.0;
/// How often the progress bar is updated between samples.
const TICK: Duration = Duration::from_millis(200);
/// The goal: RSS within this fraction of its value after the warm-up.
/// Read on the anonymous part (`RssAnon`, the heap, where a leak grows):
/// `VmRSS` also counts the durable log's mapped segment, whose pages come
/// and go as a segment fills and is deleted (a sawtooth of up to one
/// segment, 32 MiB, measured at 26-57 MiB on a 2M-row run whose heap
/// stayed at 14-17 MiB), so a sample of it is noise at the scale of 10%.
pub const RSS_TOLERANCE: f64 = 0.10;
/// The goal: items/s of the last tenth within this fraction of the first.
pub const DRIFT_TOLERANCE: f64 = 0.05;
/// RSS is read against its value after this long (the issue's first
/// minute), or after the first tenth of a shorter run.
pub const RSS_WARM_UP_S: f64 = 60.0;

/// The sample interval for a run of `rows`: [`PLANNED_SAMPLES`] samples
/// at [`PLANNED_RATE`], within [`MIN_INTERVAL`] and [`MAX_INTERVAL`]
/// (50 million rows: 10 s; 2 million: 0.4 s).
pub fn interval(rows: u64) -> Duration {
    let planned = Duration::from_secs_f64(rows as f64 / PLANNED_RATE);
    (planned / PLANNED_SAMPLES).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

/// Sub-buckets per power of two in [`Histogram`] (8: a bucket is at most
/// 12.5% wide).
const SUB_BITS: u32 = 3;
const SUBS: u64 = 1 << SUB_BITS;
/// Buckets for every `u64` of nanoseconds.
pub const BUCKETS: usize = ((64 - SUB_BITS) as usize) * SUBS as usize + SUBS as usize;

/// The bucket of `ns`: exact below 8, then 8 per power of two.
pub fn bucket(ns: u64) -> usize {
    if ns < SUBS {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros();
    ((e - SUB_BITS + 1) as u64 * SUBS + ((ns >> (e - SUB_BITS)) & (SUBS - 1))) as usize
}

/// The largest value of bucket `i` (its values are at most 12.5% below).
pub fn bucket_max(i: usize) -> u64 {
    let i = i as u64;
    if i < SUBS {
        return i;
    }
    let e = i / SUBS + u64::from(SUB_BITS) - 1;
    let width = 1u64 << (e - u64::from(SUB_BITS));
    ((SUBS + i % SUBS) << (e - u64::from(SUB_BITS))) + (width - 1)
}

/// The `q` quantile (0 to 1) of bucket counts, as the largest value of
/// its bucket; `None` for no counts.
pub fn quantile(counts: &[u64], q: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(bucket_max(i));
        }
    }
    None
}

/// One adding thread's add() latencies since the last sample: each
/// thread counts into its own, so an add takes no lock and shares no
/// cache line with another thread's; the sampler empties them all.
struct Histogram {
    counts: Box<[AtomicU64]>,
    /// Rows this thread has added (for the progress bar).
    added: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            added: AtomicU64::new(0),
        }
    }

    fn record(&self, ns: u64) {
        self.counts[bucket(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the counts into `into` and empties them.
    fn drain_into(&self, into: &mut [u64]) {
        for (sum, c) in into.iter_mut().zip(self.counts.iter()) {
            *sum += c.swap(0, Ordering::Relaxed);
        }
    }
}

/// The soak read against issue 33's goals.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Verdict {
    pub samples: usize,
    /// When RSS is read from: the first sample at or after the first
    /// minute, or after the first tenth of a run shorter than 10 minutes.
    pub rss_baseline_at_s: f64,
    /// Anonymous RSS (the heap; see [`RSS_TOLERANCE`]) at the baseline.
    pub rss_baseline_bytes: u64,
    /// Anonymous RSS from the baseline on: lowest and highest.
    pub rss_min_bytes: u64,
    pub rss_max_bytes: u64,
    /// The largest |anonymous RSS - baseline| / baseline from the
    /// baseline on.
    pub rss_deviation: f64,
    /// `rss_deviation` <= [`RSS_TOLERANCE`].
    pub rss_flat: bool,
    /// All of RSS (`VmRSS`, with the log's mapped pages) from the
    /// baseline on: lowest and highest, shown beside the verdict.
    pub vmrss_min_bytes: u64,
    pub vmrss_max_bytes: u64,
    /// Rows/s over the first and the last tenth of the samples (at least
    /// one sample each): rows written / seconds.
    pub rate_first_tenth: f64,
    pub rate_last_tenth: f64,
    /// (last - first) / first.
    pub drift: f64,
    /// |`drift`| <= [`DRIFT_TOLERANCE`].
    pub drift_ok: bool,
    /// The server's own reference (`soak_reference`: the same rows
    /// without the library): rows/s over its first and last tenth, and
    /// its drift; `None` until it ran.
    pub server_rate_first_tenth: Option<f64>,
    pub server_rate_last_tenth: Option<f64>,
    pub server_drift: Option<f64>,
    /// The library's drift beside the server's: (1 + `drift`) / (1 +
    /// `server_drift`) - 1, what the library adds to the server's own.
    pub drift_beside_server: Option<f64>,
    /// Rows added, and rows counted on the server.
    pub expected: u64,
    pub arrived: u64,
    /// `expected - arrived` (0 if more arrived).
    pub lost: u64,
    /// `arrived == expected`.
    pub none_lost: bool,
    /// Every goal met.
    pub met: bool,
    /// Why a goal could not be read (too few samples), if so.
    pub note: Option<String>,
}

/// Reads `samples` (in order) against the goals; `arrived` is the
/// server's count of the `expected` rows.
pub fn verdict(samples: &[Sample], expected: u64, arrived: u64) -> Verdict {
    let lost = expected.saturating_sub(arrived);
    let none_lost = arrived == expected;
    let Some(last) = samples.last() else {
        return Verdict {
            expected,
            arrived,
            lost,
            none_lost,
            note: Some("no samples: the run was shorter than one interval".to_owned()),
            ..Verdict::default()
        };
    };
    let warm_up = RSS_WARM_UP_S.min(last.elapsed_s / 10.0);
    let base = samples
        .iter()
        .position(|s| s.elapsed_s >= warm_up)
        .unwrap_or(samples.len() - 1);
    let baseline = samples[base].rss_anon_bytes;
    let after = &samples[base..];
    let range = |of: fn(&Sample) -> u64| {
        (
            after.iter().map(of).min().unwrap_or(0),
            after.iter().map(of).max().unwrap_or(0),
        )
    };
    let (rss_min, rss_max) = range(|s| s.rss_anon_bytes);
    let (vmrss_min, vmrss_max) = range(|s| s.rss_bytes);
    let deviation = if baseline == 0 {
        0.0
    } else {
        after
            .iter()
            .map(|s| s.rss_anon_bytes.abs_diff(baseline) as f64 / baseline as f64)
            .fold(0.0, f64::max)
    };
    let (first, last_rate, drift) = tenths(samples);
    let rss_flat = deviation <= RSS_TOLERANCE;
    let drift_ok = drift.abs() <= DRIFT_TOLERANCE;
    let note = (samples.len() < 10).then(|| {
        format!(
            "{} samples only: a tenth is one sample, the reading is rough",
            samples.len()
        )
    });
    Verdict {
        samples: samples.len(),
        rss_baseline_at_s: samples[base].elapsed_s,
        rss_baseline_bytes: baseline,
        rss_min_bytes: rss_min,
        rss_max_bytes: rss_max,
        rss_deviation: deviation,
        rss_flat,
        vmrss_min_bytes: vmrss_min,
        vmrss_max_bytes: vmrss_max,
        rate_first_tenth: first,
        rate_last_tenth: last_rate,
        drift,
        drift_ok,
        expected,
        arrived,
        lost,
        none_lost,
        met: rss_flat && drift_ok && none_lost,
        note,
        ..Verdict::default()
    }
}

/// Rows/s over the first and the last tenth of `samples` (at least one
/// sample each: rows written / seconds), and the drift from one to the
/// other, (last - first) / first.
pub fn tenths(samples: &[Sample]) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, f64::INFINITY);
    }
    let tenth = (samples.len() / 10).max(1);
    let rate = |part: &[Sample]| {
        let seconds: f64 = part.iter().map(|s| s.interval_s).sum();
        let rows: u64 = part.iter().map(|s| s.written).sum();
        if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        }
    };
    let first = rate(&samples[..tenth]);
    let last = rate(&samples[samples.len() - tenth..]);
    let drift = if first > 0.0 {
        (last - first) / first
    } else {
        f64::INFINITY
    };
    (first, last, drift)
}

impl Verdict {
    /// The verdict with the server's reference run (`reference`, its
    /// samples) beside it.
    pub fn with_reference(self, reference: &[Sample]) -> Verdict {
        let (first, last, server_drift) = tenths(reference);
        Verdict {
            server_rate_first_tenth: Some(first),
            server_rate_last_tenth: Some(last),
            server_drift: Some(server_drift),
            drift_beside_server: Some((1.0 + self.drift) / (1.0 + server_drift) - 1.0),
            ..self
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The verdict as a Markdown table, one row per goal.
pub fn verdict_md(v: &Verdict) -> String {
    let mut out = String::from("| goal | measured | verdict |\n|---|---|---|\n");
    let _ = writeln!(
        out,
        "| RSS within {:.0}% of its value after the first minute (short runs: the first tenth), read on the heap (`RssAnon`) | {:.1} MiB at {:.0} s; from there {:.1}-{:.1} MiB, at most {:.1}% off (all of `VmRSS`, with the durable log's mapped segment: {:.1}-{:.1} MiB) | {} |",
        RSS_TOLERANCE * 100.0,
        mib(v.rss_baseline_bytes),
        v.rss_baseline_at_s,
        mib(v.rss_min_bytes),
        mib(v.rss_max_bytes),
        v.rss_deviation * 100.0,
        mib(v.vmrss_min_bytes),
        mib(v.vmrss_max_bytes),
        met(v.rss_flat),
    );
    let _ = writeln!(
        out,
        "| items/s drift <= {:.0}% between the first and last tenth | {:.0} -> {:.0} rows/s ({:+.1}%) | {} |",
        DRIFT_TOLERANCE * 100.0,
        v.rate_first_tenth,
        v.rate_last_tenth,
        v.drift * 100.0,
        met(v.drift_ok),
    );
    if let (Some(first), Some(last), Some(server), Some(beside)) = (
        v.server_rate_first_tenth,
        v.server_rate_last_tenth,
        v.server_drift,
        v.drift_beside_server,
    ) {
        let _ = writeln!(
            out,
            "| the same, beside the server's own drift (the same rows without the library: `soak_reference`) | server alone {first:.0} -> {last:.0} rows/s ({:+.1}%); the library's drift beside it {:+.1}% | {} |",
            server * 100.0,
            beside * 100.0,
            met(beside.abs() <= DRIFT_TOLERANCE),
        );
    }
    let _ = writeln!(
        out,
        "| 0 lost | {} of {} rows on the server (`count(*)`; the primary key `document_id` holds no row twice), {} lost | {} |",
        v.arrived,
        v.expected,
        v.lost,
        met(v.none_lost),
    );
    let _ = writeln!(
        out,
        "\nVerdict: {} ({} samples){}",
        if v.met {
            "every goal met"
        } else {
            "**not every goal met**"
        },
        v.samples,
        v.note
            .as_ref()
            .map_or(String::new(), |n| format!("; note: {n}"))
    );
    out
}

/// The samples as a Markdown table.
pub fn samples_md(samples: &[Sample]) -> String {
    let mut out = String::from(
        "| t s | rows/s | accepted/s | add p99 us | pending | in flight | segments | segment MiB | RSS MiB | of it anon MiB | fds |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in samples {
        let _ = writeln!(
            out,
            "| {:.1} | {:.0} | {:.0} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {} |",
            s.elapsed_s,
            s.items_per_s,
            s.accepted_per_s,
            s.add_p99_us.map_or("-".to_owned(), |p| format!("{p:.1}")),
            s.pending,
            s.in_flight,
            s.segments,
            mib(s.segment_bytes),
            mib(s.rss_bytes),
            mib(s.rss_anon_bytes),
            s.fds,
        );
    }
    out
}

/// items/s and RSS against time: two charts one above the other, in the
/// bench's chart style; dashed, the rate of the first tenth and the RSS
/// baseline the verdict reads against.
pub fn svg(samples: &[Sample], reference: &[Sample], v: &Verdict) -> String {
    let end = samples.last().map_or(1.0, |s| s.elapsed_s).max(1e-3);
    let time_axis = || {
        let step = nice_step(end / 6.0);
        Axis {
            place: Box::new(move |t| t / end),
            ticks: (0..)
                .map(|k| f64::from(k) * step)
                .take_while(|t| *t <= end)
                .map(|t| (t, format!("{t}")))
                .collect(),
            label: "seconds since the first add",
        }
    };
    let rate = [
        Series {
            name: "rows/s",
            points: samples
                .iter()
                .map(|s| (s.elapsed_s, s.items_per_s))
                .collect(),
            dashed: Vec::new(),
            level: Some(v.rate_first_tenth),
        },
        Series {
            name: "server alone",
            points: reference
                .iter()
                .map(|s| (s.elapsed_s, s.items_per_s))
                .collect(),
            dashed: Vec::new(),
            level: None,
        },
    ];
    let rss = [
        Series {
            name: "VmRSS",
            points: samples
                .iter()
                .map(|s| (s.elapsed_s, mib(s.rss_bytes)))
                .collect(),
            dashed: Vec::new(),
            level: None,
        },
        Series {
            name: "heap (anon)",
            points: samples
                .iter()
                .map(|s| (s.elapsed_s, mib(s.rss_anon_bytes)))
                .collect(),
            dashed: Vec::new(),
            level: Some(mib(v.rss_baseline_bytes)),
        },
    ];
    let top = draw(
        "soak: rows/s per interval, and the server alone (dashed: the first tenth)",
        &time_axis(),
        &YAxis {
            log: false,
            label: "rows/s",
        },
        &rate,
    );
    let bottom = draw(
        "soak: resident memory (dashed: the heap's baseline)",
        &time_axis(),
        &YAxis {
            log: false,
            label: "RSS MiB",
        },
        &rss,
    );
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"840\">\n<g>\n{top}</g>\n<g transform=\"translate(0,420)\">\n{bottom}</g>\n</svg>\n"
    )
}

/// A field of `/proc/self/status` given in kB, in bytes (0 if missing).
fn status_bytes(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// This process's resident memory, bytes: all of it (`VmRSS`, which
/// counts the durable log's mapped pages too) and its anonymous part
/// (`RssAnon`: the heap).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    (
        status_bytes(&status, "VmRSS:"),
        status_bytes(&status, "RssAnon:"),
    )
}

/// This process's open file descriptors (without the one listing them).
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1) as u64)
}

/// The durable log's segment files in `dir`: count, bytes, disk bytes.
fn segments(dir: &Path) -> (u64, u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0, 0);
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .filter_map(|e| e.metadata().ok())
        .fold((0, 0, 0), |(n, bytes, disk), m| {
            (n + 1, bytes + m.len(), disk + m.blocks() * 512)
        })
}

/// What the soak reports beside its samples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub rows: u64,
    pub batch_size: usize,
    pub in_flight: usize,
    pub threads: usize,
    /// `durable Interval(100 ms)`, or `in memory` (`--soak-in-memory`).
    pub buffer: String,
    pub sample_interval_s: f64,
    /// Seconds from the first add until every thread's last add returned.
    pub adding_s: f64,
    /// Seconds from the first add until `close` returned.
    pub total_s: f64,
    /// Rows written / `total_s`.
    pub rows_per_s: f64,
    pub requests: u64,
    pub retries: u64,
    pub conflicts: u64,
    pub failed: u64,
    /// RSS before the inserter was made, bytes.
    pub rss_before_bytes: u64,
    /// Segment files left when `close` returned.
    pub segments_after_close: u64,
    pub machine: String,
}

/// The whole `soak.json`.
#[derive(serde::Serialize)]
struct Report<'a> {
    summary: &'a Summary,
    verdict: &'a Verdict,
    samples: &'a [Sample],
    /// The server alone (`soak_reference`): its rows/s samples.
    reference: &'a [Sample],
}

/// Runs the soak of `rows` rows against the PostgreSQL of `endpoints`
/// and writes its results to `out`. `Ok(verdict)` once it ran to the end
/// (whether or not the goals were met); `Err` when it could not run or a
/// row was handed back.
pub fn soak(
    endpoints: &Endpoints,
    rows: u64,
    in_memory: bool,
    out: &Path,
    machine: impl FnOnce() -> String,
) -> Result<Verdict, String> {
    let connector =
        Connector::from_url(&postgres::plaintext_url(endpoints)).map_err(|e| e.to_string())?;
    let table = TableName::new(format!("soak_documents_{}", std::process::id()))
        .map_err(|e| e.to_string())?;
    execute(&connector, &batch_postgres::create_documents_table(&table))?;
    let dropper = DropTable {
        connector: connector.clone(),
        table: table.clone(),
    };
    let dir = buffer_dir()?;
    let settings = BatcherSettings::builder()
        .name("soak-postgres")
        .batch_size(BATCH_SIZE)
        .max_in_flight(IN_FLIGHT);
    let settings = if in_memory {
        settings
    } else {
        settings
            .durable(dir.path())
            .fsync(Fsync::Interval(FSYNC_INTERVAL))
    };
    let settings = settings.build().map_err(|e| e.to_string())?;
    let buffer = if in_memory {
        "in memory".to_owned()
    } else {
        format!("durable Interval({} ms)", FSYNC_INTERVAL.as_millis())
    };
    let (rss_before, _) = rss();
    let inserter = PostgreSQLBatchInserter::with_table(connector.clone(), table.clone(), settings)
        .map_err(|e| e.to_string())?;
    let every = interval(rows);
    let bar = rows_progress(rows);
    say(
        &bar,
        format!(
            "soak: {rows} rows to {} (batch {BATCH_SIZE}, {IN_FLIGHT} in flight, {buffer} in {}), {THREADS} threads, a sample every {:.2} s",
            table.quoted(),
            dir.path().display(),
            every.as_secs_f64()
        ),
    );
    let histograms: Vec<Histogram> = (0..THREADS).map(|_| Histogram::new()).collect();
    let running = AtomicUsize::new(THREADS);
    let mut samples = Vec::new();
    let started = Instant::now();
    let added = std::thread::scope(|scope| -> Result<Duration, String> {
        let workers: Vec<_> = histograms
            .iter()
            .enumerate()
            .map(|(t, hist)| {
                let (inserter, running) = (&inserter, &running);
                scope.spawn(move || -> Result<(), String> {
                    let _done = CountDown(running);
                    let mut count = 0u64;
                    for i in (t as u64..rows).step_by(THREADS) {
                        let row = postgres::row(i);
                        let began = Instant::now();
                        inserter
                            .add(row)
                            .map_err(|f| format!("row {i} handed back: {f}"))?;
                        hist.record(u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX));
                        count += 1;
                        if count.is_multiple_of(256) {
                            hist.added.store(count, Ordering::Relaxed);
                        }
                    }
                    hist.added.store(count, Ordering::Relaxed);
                    Ok(())
                })
            })
            .collect();
        // The sampler, on this thread.
        let mut last_at = started;
        let mut last = inserter.stats();
        let mut next = started + every;
        let mut counts = vec![0u64; BUCKETS];
        while running.load(Ordering::Acquire) > 0 {
            let now = Instant::now();
            std::thread::sleep(TICK.min(next.saturating_duration_since(now)));
            bar.set_position(
                histograms
                    .iter()
                    .map(|h| h.added.load(Ordering::Relaxed))
                    .sum(),
            );
            let now = Instant::now();
            if now < next || running.load(Ordering::Acquire) == 0 {
                continue;
            }
            let stats = inserter.stats();
            counts.iter_mut().for_each(|c| *c = 0);
            histograms.iter().for_each(|h| h.drain_into(&mut counts));
            let seconds = now.duration_since(last_at).as_secs_f64();
            let written = stats.total_added - last.total_added;
            let (segments, segment_bytes, segment_disk_bytes) = segments(dir.path());
            let (rss_bytes, rss_anon_bytes) = rss();
            let sample = Sample {
                elapsed_s: now.duration_since(started).as_secs_f64(),
                interval_s: seconds,
                written,
                items_per_s: written as f64 / seconds,
                accepted_per_s: (stats.total_received - last.total_received) as f64 / seconds,
                add_p99_us: quantile(&counts, 0.99).map(|ns| ns as f64 / 1000.0),
                adds: counts.iter().sum(),
                pending: stats.pending,
                in_flight: stats.in_flight,
                segments,
                segment_bytes,
                segment_disk_bytes,
                rss_bytes,
                rss_anon_bytes,
                fds: open_fds(),
            };
            let line = format!(
                "{:7.1} s  {:>8.0} rows/s  p99 {:>8} us  pending {:>6}  segments {:>3} ({:.1} MiB)  RSS {:.1} MiB (anon {:.1})  fds {}",
                sample.elapsed_s,
                sample.items_per_s,
                sample
                    .add_p99_us
                    .map_or("-".to_owned(), |p| format!("{p:.1}")),
                sample.pending,
                sample.segments,
                mib(sample.segment_bytes),
                mib(sample.rss_bytes),
                mib(sample.rss_anon_bytes),
                sample.fds,
            );
            bar.set_message(format!("RSS {:.0} MiB", mib(sample.rss_bytes)));
            say(&bar, line);
            samples.push(sample);
            last = stats;
            last_at = now;
            next += every;
            if next < now {
                next = now + every;
            }
        }
        let added = started.elapsed();
        for w in workers {
            w.join()
                .map_err(|_| "an adding thread panicked".to_owned())??;
        }
        Ok(added)
    });
    let added = match added {
        Ok(added) => added,
        Err(e) => {
            bar.abandon();
            let _ = inserter.close(CLOSE_TIMEOUT);
            return Err(e);
        }
    };
    say(
        &bar,
        format!(
            "soak: adds done in {:.1} s; closing (flushing what is buffered)",
            added.as_secs_f64()
        ),
    );
    let report = inserter.close(CLOSE_TIMEOUT);
    let total = started.elapsed();
    let stats = inserter.stats();
    drop(inserter);
    let (segments_after_close, _, _) = segments(dir.path());
    drop(dir);
    bar.finish_and_clear();
    if !report.is_complete() {
        return Err(format!(
            "{} at close",
            incomplete(&report, "rows handed back")
        ));
    }
    // Every row's id is one of the `rows` ids written, and the primary
    // key holds each at most once: `rows` rows means every one arrived,
    // once.
    let arrived = count_rows(&connector, &table)?;
    drop(dropper);
    // The same rows without the library, on a table of their own, once
    // the soak's is dropped: the server's own drift to read the soak's by.
    let reference =
        crate::soak_reference::server_reference(&connector, rows, BATCH_SIZE, IN_FLIGHT, every)?;
    let verdict = verdict(&samples, rows, arrived).with_reference(&reference);
    let summary = Summary {
        rows,
        batch_size: BATCH_SIZE,
        in_flight: IN_FLIGHT,
        threads: THREADS,
        buffer,
        sample_interval_s: every.as_secs_f64(),
        adding_s: added.as_secs_f64(),
        total_s: total.as_secs_f64(),
        rows_per_s: stats.total_added as f64 / total.as_secs_f64(),
        requests: stats.total_requests,
        retries: stats.total_retries,
        conflicts: stats.total_conflicts,
        failed: stats.total_failed,
        rss_before_bytes: rss_before,
        segments_after_close,
        machine: machine(),
    };
    let md = markdown(&summary, &verdict, &samples, &reference);
    write(out, &summary, &verdict, &samples, &reference, &md)
        .map_err(|e| format!("cannot write the soak's results to {}: {e}", out.display()))?;
    println!("{}", summary_line(&summary));
    print!("{}", verdict_md(&verdict));
    println!(
        "results: {0}/soak.json, {0}/soak.md, {0}/soak.svg",
        out.display()
    );
    Ok(verdict)
}

/// One line of what ran and how long it took.
fn summary_line(s: &Summary) -> String {
    format!(
        "{} rows (batch {}, {} in flight, {}, {} threads) in {:.1} s ({:.1} s adding): {:.0} rows/s; {} requests, {} retries, {} conflicts, {} failed; RSS before {:.1} MiB; {} segments left after close; a sample every {:.2} s.",
        s.rows,
        s.batch_size,
        s.in_flight,
        s.buffer,
        s.threads,
        s.total_s,
        s.adding_s,
        s.rows_per_s,
        s.requests,
        s.retries,
        s.conflicts,
        s.failed,
        mib(s.rss_before_bytes),
        s.segments_after_close,
        s.sample_interval_s,
    )
}

fn markdown(
    summary: &Summary,
    verdict: &Verdict,
    samples: &[Sample],
    reference: &[Sample],
) -> String {
    let mut alone = String::from("| t s | rows/s |\n|---:|---:|\n");
    for s in reference {
        let _ = writeln!(alone, "| {:.1} | {:.0} |", s.elapsed_s, s.items_per_s);
    }
    format!(
        "# uds3-batch soak (issue 33)\n\n{}\n\n{}\n\n## Verdict\n\n{}\n## Samples\n\n{}\n## The server alone (the same rows without the library)\n\n{alone}",
        summary_line(summary),
        summary.machine,
        verdict_md(verdict),
        samples_md(samples)
    )
}

fn write(
    dir: &Path,
    summary: &Summary,
    verdict: &Verdict,
    samples: &[Sample],
    reference: &[Sample],
    md: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(&Report {
        summary,
        verdict,
        samples,
        reference,
    })
    .map_err(std::io::Error::other)?;
    std::fs::write(dir.join("soak.json"), json)?;
    std::fs::write(dir.join("soak.md"), md)?;
    std::fs::write(dir.join("soak.svg"), svg(samples, reference, verdict))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample at `t` s of a 1 s interval.
    fn sample(t: f64, rate: u64, rss_mib: u64) -> Sample {
        Sample {
            elapsed_s: t,
            interval_s: 1.0,
            written: rate,
            items_per_s: rate as f64,
            rss_bytes: (rss_mib + 32) * 1024 * 1024,
            rss_anon_bytes: rss_mib * 1024 * 1024,
            ..Sample::default()
        }
    }

    #[test]
    fn the_interval_is_10_s_for_the_issues_run_and_shorter_for_short_ones() {
        assert_eq!(interval(50_000_000), Duration::from_secs(10));
        assert_eq!(interval(1_000_000_000), Duration::from_secs(10));
        assert_eq!(interval(2_000_000), Duration::from_millis(400));
        // 1M rows: at least 10 samples even at 4x the planned rate.
        assert!(Duration::from_secs_f64(1e6 / (4.0 * PLANNED_RATE)) >= 10 * interval(1_000_000));
        assert_eq!(interval(1), MIN_INTERVAL);
    }

    #[test]
    fn buckets_cover_every_value_in_order_and_quantiles_read_them() {
        let mut last = None;
        for v in (0..5000).chain([u64::MAX / 2, u64::MAX]) {
            let b = bucket(v);
            assert!(b < BUCKETS, "{v}");
            assert!(v <= bucket_max(b), "{v} above its bucket {b}");
            if b > 0 {
                assert!(
                    v > bucket_max(b - 1),
                    "{v} in bucket {b} fits the one before"
                );
            }
            if let Some(l) = last {
                assert!(b >= l, "{v}: bucket {b} after {l}");
            }
            last = Some(b);
        }
        assert_eq!(bucket_max(BUCKETS - 1), u64::MAX);
        // 1000 adds: 990 of 1 µs, 10 of 2 ms: the 99th percentile is 1 µs
        // (its bucket's top, within 12.5%), the 99.1st 2 ms.
        let mut counts = vec![0u64; BUCKETS];
        counts[bucket(1_000)] += 990;
        counts[bucket(2_000_000)] += 10;
        let p99 = quantile(&counts, 0.99).expect("counts");
        assert!((1_000..=1_125).contains(&p99), "{p99}");
        let p991 = quantile(&counts, 0.991).expect("counts");
        assert!((2_000_000..=2_250_000).contains(&p991), "{p991}");
        assert_eq!(quantile(&vec![0; BUCKETS], 0.99), None);
        // Per-thread histograms drain into one and empty themselves.
        let (a, b) = (Histogram::new(), Histogram::new());
        a.record(1_000);
        b.record(1_000);
        b.record(5);
        let mut sum = vec![0u64; BUCKETS];
        a.drain_into(&mut sum);
        b.drain_into(&mut sum);
        assert_eq!((sum[bucket(1_000)], sum[5]), (2, 1));
        let mut again = vec![0u64; BUCKETS];
        b.drain_into(&mut again);
        assert_eq!(again.iter().sum::<u64>(), 0);
    }

    #[test]
    fn a_steady_run_meets_every_goal() {
        // 100 s: RSS climbs to 100 MiB in the first tenth, then stays
        // within 10% (the warm-up is not held against it).
        let samples: Vec<Sample> = (1..=100)
            .map(|t| {
                let rss = if t < 10 { 10 * t } else { 100 + t % 9 };
                sample(f64::from(t as u32), 100_000 + (t % 3) * 1000, rss)
            })
            .collect();
        let v = verdict(&samples, 10_000_000, 10_000_000);
        assert_eq!(v.rss_baseline_at_s, 10.0, "the first tenth of a 100 s run");
        assert_eq!(v.rss_baseline_bytes, 101 * 1024 * 1024);
        assert!(v.rss_flat && v.drift_ok && v.none_lost && v.met, "{v:?}");
        assert!(v.drift.abs() < 0.02, "{v:?}");
        assert_eq!(v.note, None);
        assert!(verdict_md(&v).contains("Verdict: every goal met (100 samples)"));
    }

    #[test]
    fn growing_memory_drifting_rate_and_lost_rows_each_fail_their_goal() {
        let steady = |t: u32| sample(f64::from(t), 100_000, 100);
        // RSS grows 20% over the run after the baseline.
        let growing: Vec<Sample> = (1..=100)
            .map(|t| Sample {
                rss_anon_bytes: (100 + u64::from(t) / 5) * 1024 * 1024,
                ..steady(t)
            })
            .collect();
        let v = verdict(&growing, 1, 1);
        assert!(!v.rss_flat && v.drift_ok && !v.met, "{v:?}");
        assert!((v.rss_deviation - 18.0 / 102.0).abs() < 1e-9, "{v:?}");
        // The rate falls from 100k to 90k: -10%.
        let slowing: Vec<Sample> = (1..=100)
            .map(|t| Sample {
                written: if t > 90 { 90_000 } else { 100_000 },
                ..steady(t)
            })
            .collect();
        let v = verdict(&slowing, 1, 1);
        assert!(v.rss_flat && !v.drift_ok && !v.met, "{v:?}");
        assert!((v.drift + 0.10).abs() < 1e-9, "{v:?}");
        // A faster end is drift too.
        let faster: Vec<Sample> = (1..=100)
            .map(|t| Sample {
                written: if t > 90 { 110_000 } else { 100_000 },
                ..steady(t)
            })
            .collect();
        assert!(!verdict(&faster, 1, 1).drift_ok);
        // One row missing.
        let all: Vec<Sample> = (1..=100).map(steady).collect();
        let v = verdict(&all, 1000, 999);
        assert!(v.rss_flat && v.drift_ok && !v.none_lost && !v.met, "{v:?}");
        assert_eq!(v.lost, 1);
        assert!(verdict_md(&v).contains("999 of 1000 rows"));
        assert!(verdict_md(&v).contains("not every goal met"));
    }

    #[test]
    fn a_long_run_reads_rss_after_the_first_minute() {
        // 10 s samples over 20 minutes: the baseline is at 60 s, not at
        // the first tenth (120 s); RSS doubling before 60 s is warm-up.
        let samples: Vec<Sample> = (1..=120)
            .map(|k| {
                let t = k * 10;
                sample(f64::from(t), 100_000, if t < 60 { 50 } else { 100 })
            })
            .collect();
        let v = verdict(&samples, 1, 1);
        assert_eq!(v.rss_baseline_at_s, 60.0);
        assert!(v.rss_flat, "{v:?}");
        assert_eq!(v.samples, 120);
    }

    #[test]
    fn a_drift_the_server_shows_alone_is_read_beside_it() {
        // Both slow from 100,000 to 88,000 rows/s over the run: -12%
        // absolute, none of it the library's.
        let slowing = |k: u32| sample(f64::from(k), 100_000 - u64::from(k) * 120, 80);
        let library: Vec<Sample> = (1..=100).map(slowing).collect();
        let server: Vec<Sample> = (1..=100).map(slowing).collect();
        let v = verdict(&library, 1, 1).with_reference(&server);
        assert!(!v.drift_ok, "{v:?}");
        assert!(v.server_drift.is_some_and(|d| (d - v.drift).abs() < 1e-12));
        assert!(
            v.drift_beside_server.is_some_and(|d| d.abs() < 1e-12),
            "{v:?}"
        );
        let md = verdict_md(&v);
        assert!(md.contains("server alone"), "{md}");
        assert!(
            md.contains("the library's drift beside it +0.0% | met"),
            "{md}"
        );
        // The library slower still: 4% of its own beside the server's.
        let slower = verdict(&library, 1, 1).with_reference(
            &(1..=100)
                .map(|k: u32| sample(f64::from(k), 100_000 - u64::from(k) * 75, 80))
                .collect::<Vec<_>>(),
        );
        let beside = slower.drift_beside_server.unwrap_or_default();
        assert!((-0.06..-0.03).contains(&beside), "{slower:?}");
    }

    #[test]
    fn few_or_no_samples_are_said() {
        let v = verdict(&[], 10, 10);
        assert!(!v.met && v.none_lost, "{v:?}");
        assert!(v.note.as_deref().is_some_and(|n| n.contains("no samples")));
        let v = verdict(&[sample(1.0, 10, 5), sample(2.0, 10, 5)], 20, 20);
        assert!(v.met, "{v:?}");
        assert!(v.note.as_deref().is_some_and(|n| n.contains("2 samples")));
    }

    #[test]
    fn the_chart_has_every_sample_in_both_plots() {
        let samples: Vec<Sample> = (1..=37)
            .map(|t: u32| sample(f64::from(t) * 0.4, 150_000 + u64::from(t), 80))
            .collect();
        let v = verdict(&samples, 1, 1);
        let chart = svg(&samples, &samples, &v);
        // rows/s, the server alone, VmRSS and the heap: a point per
        // sample each.
        assert_eq!(chart.matches("<circle").count(), 4 * samples.len());
        let polylines: Vec<&str> = chart
            .lines()
            .filter(|l| l.starts_with("<polyline"))
            .collect();
        assert_eq!(polylines.len(), 4, "{chart}");
        for line in polylines {
            let points = line
                .split("points=\"")
                .nth(1)
                .and_then(|p| p.split('"').next())
                .unwrap_or_default();
            assert_eq!(points.split(' ').count(), samples.len(), "{line}");
        }
        assert!(chart.contains(">rows/s<") && chart.contains(">RSS MiB<"));
        assert!(chart.contains(">VmRSS<") && chart.contains(">heap (anon)<"));
        assert!(chart.trim_end().ends_with("</svg>"));
    }
}

//! Runs each backend's modes in interleaved rounds and turns the samples
//! into records: medians, speedups over per-item, fractions of raw.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// One measured write of `items` items.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub items: usize,
    pub seconds: f64,
    pub requests: u64,
}

/// What a benchmark mode writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The library at batch size 1: one request per item.
    PerItem,
    /// The library at a batch size.
    Batched(usize),
    /// The library at a batch size, with several threads sharing one batcher.
    Shared { batch_size: usize, threads: usize },
    /// The server's own bulk path without the library.
    Raw,
    /// The library at a batch size, over TLS (the server's TLS endpoint,
    /// trusting the test CA, host name verified).
    BatchedTls(usize),
}

impl Mode {
    pub fn label(&self) -> &'static str {
        match self {
            Mode::PerItem => "per-item",
            Mode::Batched(_) => "batched",
            Mode::Shared { .. } => "shared",
            Mode::Raw => "raw",
            Mode::BatchedTls(_) => "batched-tls",
        }
    }

    pub fn batch_size(&self) -> usize {
        match self {
            Mode::PerItem => 1,
            Mode::Batched(n) | Mode::BatchedTls(n) | Mode::Shared { batch_size: n, .. } => *n,
            Mode::Raw => 0,
        }
    }

    /// Whether this mode talks to the TLS endpoint.
    pub fn is_tls(&self) -> bool {
        matches!(self, Mode::BatchedTls(_))
    }

    pub fn threads(&self) -> usize {
        match self {
            Mode::Shared { threads, .. } => *threads,
            _ => 1,
        }
    }
}

/// A backend under benchmark. Every call sets up a fresh target (table,
/// collection, database, labels) untimed, writes, checks on the server
/// that every item arrived, and returns the timed part.
pub trait Backend {
    /// What is measured: the constants of this backend's runs.
    fn profile(&self) -> &'static Profile;
    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String>;
}

/// A backend's name, UDS3 v2.2's claim, and how much each run writes.
pub struct Profile {
    pub name: &'static str,
    /// UDS3 v2.2's claimed speedup, as text.
    pub claimed: &'static str,
    pub batch_sizes: &'static [usize],
    /// Items per per-item run: (quick, full).
    pub per_item: (usize, usize),
    /// Items per run of every other mode: (quick, full).
    pub batched: (usize, usize),
}

impl Profile {
    /// Items written per run of `mode`.
    pub fn items(&self, mode: Mode, quick: bool) -> usize {
        let (quick_items, full_items) = match mode {
            Mode::PerItem => self.per_item,
            _ => self.batched,
        };
        if quick { quick_items } else { full_items }
    }
}

/// A result line: also the shape of `results.json` records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Record {
    pub backend: String,
    pub mode: String,
    pub batch_size: usize,
    pub threads: usize,
    pub items: usize,
    pub seconds: f64,
    pub items_per_s: f64,
    pub requests: u64,
    pub speedup: Option<f64>,
    pub fraction_of_raw: Option<f64>,
    /// TLS rows only: items/s over TLS / items/s of plaintext `batched` at
    /// the same batch size, in the same run.
    pub fraction_of_plaintext: Option<f64>,
    pub claimed_speedup: String,
    pub rounds: usize,
}

pub fn modes(backend: &dyn Backend) -> Vec<Mode> {
    let mut modes = vec![Mode::PerItem];
    modes.extend(
        backend
            .profile()
            .batch_sizes
            .iter()
            .copied()
            .map(Mode::Batched),
    );
    modes.push(Mode::Raw);
    // TLS at batch 1000, where the issue sets its goal (or the largest).
    let sizes = backend.profile().batch_sizes;
    if let Some(&size) = sizes.iter().find(|&&n| n == 1000).or(sizes.iter().max()) {
        modes.push(Mode::BatchedTls(size));
    }
    modes.push(Mode::Shared {
        batch_size: 100,
        threads: 1,
    });
    modes.push(Mode::Shared {
        batch_size: 100,
        threads: 4,
    });
    modes
}

/// Runs `rounds` rounds of every mode, the order rotated each round so
/// that slow drifts of a shared machine hit every mode alike.
pub fn bench(
    backend: &mut dyn Backend,
    rounds: usize,
    quick: bool,
    bar: &ProgressBar,
) -> Result<Vec<Record>, String> {
    let modes = modes(backend);
    let mut samples: Vec<Vec<Run>> = vec![Vec::new(); modes.len()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            let i = (k + round) % modes.len();
            let mode = modes[i];
            let items = backend.profile().items(mode, quick);
            bar.set_message(format!(
                "{} {} b={} t={}",
                backend.profile().name,
                mode.label(),
                mode.batch_size(),
                mode.threads()
            ));
            let started = Instant::now();
            let run = backend
                .run(mode, items)
                .map_err(|e| format!("{} {:?}: {e}", backend.profile().name, mode))?;
            if run.items != items {
                return Err(format!(
                    "{} {:?}: wrote {} of {items} items",
                    backend.profile().name,
                    mode,
                    run.items
                ));
            }
            let _ = started;
            samples[i].push(run);
            bar.inc(1);
        }
    }
    let rate = |runs: &[Run]| median(runs.iter().map(|r| r.items as f64 / r.seconds).collect());
    let per_item = modes
        .iter()
        .position(|m| *m == Mode::PerItem)
        .map(|i| rate(&samples[i]));
    let raw = modes
        .iter()
        .position(|m| *m == Mode::Raw)
        .map(|i| rate(&samples[i]));
    Ok(modes
        .iter()
        .zip(&samples)
        .map(|(mode, runs)| {
            let items_per_s = rate(runs);
            let items: usize = runs.iter().map(|r| r.items).sum();
            let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
            let requests: u64 = runs.iter().map(|r| r.requests).sum();
            let fraction_of_plaintext = match mode {
                Mode::BatchedTls(n) => modes
                    .iter()
                    .position(|m| *m == Mode::Batched(*n))
                    .map(|i| items_per_s / rate(&samples[i])),
                _ => None,
            };
            Record {
                backend: backend.profile().name.to_owned(),
                mode: mode.label().to_owned(),
                batch_size: mode.batch_size(),
                threads: mode.threads(),
                items,
                seconds,
                items_per_s,
                requests,
                speedup: per_item.map(|p| items_per_s / p),
                fraction_of_raw: raw.map(|r| items_per_s / r),
                fraction_of_plaintext,
                claimed_speedup: backend.profile().claimed.to_owned(),
                rounds: runs.len(),
            }
        })
        .collect())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

pub fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Times one library run: `threads` threads share one inserter (thread
/// `t` adds every `t`-th item of `data` through `add`), then `close`
/// flushes it; its report must be complete, and its stats give the run.
pub fn drive<D: Sync, T, E: std::fmt::Display>(
    data: &[D],
    threads: usize,
    add: impl Fn(&D) -> Result<(), String> + Sync,
    close: impl FnOnce() -> (batch_core::FlushReport<T, E>, batch_core::Stats),
) -> Result<Run, String> {
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), String> {
        let add = &add;
        let workers: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || data.iter().skip(t).step_by(threads).try_for_each(add)))
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| "adding thread panicked".to_owned())?)
    })?;
    let (report, stats) = close();
    let seconds = started.elapsed().as_secs_f64();
    if !report.is_complete() {
        return Err(format!(
            "{} items failed (first: {}), {} pending",
            report.failed.len(),
            report
                .failed
                .first()
                .map_or(String::new(), |f| f.error.to_string()),
            report.pending
        ));
    }
    Ok(Run {
        items: stats.total_added as usize,
        seconds,
        requests: stats.total_requests,
    })
}

/// How long a benchmark run's final flush may take.
pub const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

//! How one run is timed: the library driven from its threads (each `add`
//! timed where the mode asks), the raw HTTP paths, and what a run
//! measures.

use std::time::Instant;

use crate::mode::Mode;
pub use crate::run::{Handoff, Run};
use crate::stats::percentiles_us;

/// `make()`, and the seconds it took.
pub fn timed<T>(make: impl FnOnce() -> Result<T, String>) -> Result<(T, f64), String> {
    let started = Instant::now();
    let made = make()?;
    Ok((made, started.elapsed().as_secs_f64()))
}

/// Times one library run of `mode`: its threads share one inserter
/// (thread `t` adds every `t`-th item of `data` through `add`, moving it
/// in as a user with owned items would; the raw paths borrow theirs, so
/// neither pays a copy), then `close` flushes it; its report must be
/// complete, and its stats give the run. Durable modes time every `add`.
pub fn drive<D: Send, T, E: std::fmt::Display>(
    data: Vec<D>,
    mode: Mode,
    add: impl Fn(D) -> Result<(), String> + Sync,
    close: impl FnOnce() -> (
        batch_core::FlushReport<T, E>,
        batch_core::Stats,
        batch_core::Timings,
    ),
) -> Result<Run, String> {
    let one_by_one = |share: Vec<D>, mut took: Option<&mut Vec<u32>>| -> Result<(), String> {
        for item in share {
            timed_call(took.as_deref_mut(), || add(item))?;
        }
        Ok(())
    };
    drive_shares(data, mode, &one_by_one, close)
}

/// [`drive`] for modes that add in chunks ([`Mode::chunk`]): each thread
/// hands its items to `add_many` [`ADD_MANY_CHUNK`](crate::mode::ADD_MANY_CHUNK) at a time, each call
/// timed as one `add` is; other modes go through `add` as in `drive`.
pub fn drive_many<D: Send, T, E: std::fmt::Display>(
    data: Vec<D>,
    mode: Mode,
    add: impl Fn(D) -> Result<(), String> + Sync,
    add_many: impl Fn(Vec<D>) -> Result<(), String> + Sync,
    close: impl FnOnce() -> (
        batch_core::FlushReport<T, E>,
        batch_core::Stats,
        batch_core::Timings,
    ),
) -> Result<Run, String> {
    let Some(chunk) = mode.chunk() else {
        return drive(data, mode, add, close);
    };
    let in_chunks = |share: Vec<D>, mut took: Option<&mut Vec<u32>>| -> Result<(), String> {
        let mut share = share.into_iter().peekable();
        while share.peek().is_some() {
            let part: Vec<D> = share.by_ref().take(chunk).collect();
            timed_call(took.as_deref_mut(), || add_many(part))?;
        }
        Ok(())
    };
    drive_shares(data, mode, &in_chunks, close)
}

/// Runs `call`, and records how long it took in `took`, if given.
fn timed_call(
    took: Option<&mut Vec<u32>>,
    call: impl FnOnce() -> Result<(), String>,
) -> Result<(), String> {
    let Some(took) = took else {
        return call();
    };
    let began = Instant::now();
    call()?;
    took.push(u32::try_from(began.elapsed().as_nanos()).unwrap_or(u32::MAX));
    Ok(())
}

/// How one thread of a library run adds its share of the items (timing
/// each call into the vector when the mode times its adds).
type AddShare<'a, D> = dyn Fn(Vec<D>, Option<&mut Vec<u32>>) -> Result<(), String> + Sync + 'a;

/// The threads of a library run: thread `t` gets every `t`-th item and
/// `add_share` adds them (timing each call into its vector when the mode
/// times its adds); then `close`, and the run's figures.
fn drive_shares<D: Send, T, E: std::fmt::Display>(
    data: Vec<D>,
    mode: Mode,
    add_share: &AddShare<'_, D>,
    close: impl FnOnce() -> (
        batch_core::FlushReport<T, E>,
        batch_core::Stats,
        batch_core::Timings,
    ),
) -> Result<Run, String> {
    let threads = mode.threads().max(1);
    let timed = mode.times_adds();
    let mut shares: Vec<Vec<D>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, item) in data.into_iter().enumerate() {
        shares[i % threads].push(item);
    }
    let started = Instant::now();
    let took = std::thread::scope(|scope| -> Result<Vec<u32>, String> {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                scope.spawn(move || -> Result<Vec<u32>, String> {
                    let mut took = Vec::new();
                    add_share(share, timed.then_some(&mut took))?;
                    Ok(took)
                })
            })
            .collect();
        let mut all = Vec::new();
        for w in workers {
            all.extend(
                w.join()
                    .map_err(|_| "adding thread panicked".to_owned())??,
            );
        }
        Ok(all)
    })?;
    let (report, stats, timings) = close();
    let seconds = started.elapsed().as_secs_f64();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let handoff = (timings.handoff.count() > 0).then(|| Handoff {
        p50_us: us(timings.handoff.quantile(0.5)),
        p99_us: us(timings.handoff.quantile(0.99)),
        share: timings.handoff.total().as_secs_f64() / seconds,
    });
    if !report.is_complete() {
        return Err(incomplete(&report, "items failed"));
    }
    Ok(Run {
        items: stats.total_added as usize,
        seconds,
        requests: stats.total_requests,
        add_us: percentiles_us(took),
        handoff,
    })
}

/// Why a run's final report is not complete: how many of its items
/// came back (`what`: "items failed", ...), the first one's error, and
/// how many were still pending.
pub fn incomplete<T, E: std::fmt::Display>(
    report: &batch_core::FlushReport<T, E>,
    what: &str,
) -> String {
    format!(
        "{} {what} (first: {}), {} pending",
        report.failed.len(),
        report
            .failed
            .first()
            .map_or(String::new(), |f| f.error.to_string()),
        report.pending
    )
}

/// How long a benchmark run's final flush may take.
pub const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Times a raw HTTP path without the library, from a new connection: for
/// each chunk of `chunk` items of `data`, `build` encodes its requests
/// (URL, JSON body), on the clock as the library's encoding is, and each
/// is POSTed in turn; every answer must be a success and pass `check`.
/// `data` is freed on the clock too: a library run frees the items it was
/// given before its `close` returns, so both runs end with the same work
/// done.
pub fn post_each<D>(
    mut data: Vec<D>,
    chunk: usize,
    mut build: impl FnMut(&mut [D]) -> Result<Vec<(String, Vec<u8>)>, String>,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<Run, String> {
    let items = data.len();
    let started = Instant::now();
    // A new agent per run: its connections start cold, as a new
    // inserter's do.
    let agent = ureq::Agent::new_with_defaults();
    let mut requests = 0;
    for chunk in data.chunks_mut(chunk.max(1)) {
        for (url, body) in build(chunk)? {
            let mut response = agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(&body[..])
                .map_err(|e| e.to_string())?;
            let text = response
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .read_to_string()
                .map_err(|e| e.to_string())?;
            check(&text)?;
            requests += 1;
        }
    }
    drop(data);
    Ok(Run {
        items,
        seconds: started.elapsed().as_secs_f64(),
        requests,
        add_us: None,
        handoff: None,
    })
}

/// How many items of a `mode` run go in one raw request: the batch size
/// of `Raw`, everything for `Ceiling`.
pub fn raw_chunk(mode: Mode, items: usize) -> usize {
    match mode {
        Mode::Raw(n) => n.max(1),
        _ => items.max(1),
    }
}

/// Counts down a number of running threads when dropped, however the
/// thread ends (returns, fails or panics): a sampler stops when it is 0.
pub struct CountDown<'a>(pub &'a std::sync::atomic::AtomicUsize);

impl Drop for CountDown<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Release);
    }
}

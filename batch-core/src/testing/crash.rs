//! Crash tests of a durable buffer: a test binary runs one of its own
//! tests again as a child process, which adds items and prints what it
//! did, and kills it with SIGKILL at a chosen moment. The protocol is
//! one line per event on the child's stdout: `started N` before an add,
//! `ok N` once `add` accepted item `N`, `ready` when a setup is done.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// The batcher settings of every backend's crash test: batch 1000, two
/// batches in flight, the durable buffer in `dir` under `Fsync::Always`.
///
/// # Panics
/// If the settings are refused (they are not): this is test tooling.
pub fn settings(name: &str, dir: &std::path::Path) -> crate::BatcherSettings {
    crate::BatcherSettings::builder()
        .name(name)
        .batch_size(1000)
        .max_in_flight(2)
        .durable(dir)
        .fsync(crate::Fsync::Always)
        .build()
        .expect("the crash test's settings")
}

/// The child's side: prints `started N`.
pub fn started(id: u64) {
    say(&format!("started {id}"));
}

/// The child's side: prints `ok N`.
pub fn ok(id: u64) {
    say(&format!("ok {id}"));
}

/// The child's side: prints `ready`.
pub fn ready() {
    say("ready");
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// What a killed child said.
#[derive(Debug, Default, Clone)]
pub struct Said {
    /// Ids whose `add` began.
    pub started: HashSet<u64>,
    /// Ids `add` accepted.
    pub ok: HashSet<u64>,
    /// `ready` lines.
    pub ready: usize,
}

impl Said {
    /// Reads one line; returns 1 for `ok N` and `ready`. The first line
    /// also carries libtest's `test NAME ... `, hence the search.
    fn read(&mut self, line: &str) -> usize {
        let word = |w: &str| line.find(w).map(|at| &line[at + w.len()..]);
        if let Some(id) = word("started ").and_then(|id| id.trim().parse().ok()) {
            self.started.insert(id);
            0
        } else if let Some(id) = word("ok ").and_then(|id| id.trim().parse().ok()) {
            self.ok.insert(id);
            1
        } else if line.ends_with("ready") {
            self.ready += 1;
            1
        } else {
            0
        }
    }
}

/// Runs test `test` of this test binary as a child with `env` set (mark
/// it `#[ignore]`: it is the child's entry, no test of its own), and
/// kills it (SIGKILL) once it printed `kill_after` lines of `ok` or
/// `ready` (at least one), or once it ends. `while_alive` runs after the
/// count is reached and before the kill (to pause a server, say).
///
/// # Panics
/// If the child cannot be started: this is test tooling.
pub fn run_and_kill<G>(
    test: &str,
    env: &[(&str, &OsStr)],
    kill_after: usize,
    while_alive: impl FnOnce(&Said) -> G,
) -> Said {
    let exe = std::env::current_exe().expect("the test binary");
    let mut command = Command::new(exe);
    command
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("the child process");
    let stdout = child.stdout.take().expect("its stdout");
    let mut said = Said::default();
    let mut lines = BufReader::new(stdout).lines();
    let mut counted = 0;
    while counted < kill_after.max(1) {
        let Some(Ok(line)) = lines.next() else { break };
        counted += said.read(&line);
    }
    let guard = while_alive(&said);
    let _ = child.kill();
    // What the child printed before it died is still in the pipe.
    for line in lines.map_while(Result::ok) {
        said.read(&line);
    }
    let _ = child.wait();
    drop(guard);
    said
}

/// The child's side of a backend's crash test: adds ids `0..items` from
/// `threads` threads (each a contiguous range), saying `started` before
/// and `ok` after each add that `add` accepted, then `ready`, then waits
/// to be killed.
pub fn add_from_threads(
    threads: u64,
    items: u64,
    add: impl Fn(u64) -> bool + Send + Sync + 'static,
) {
    let add = std::sync::Arc::new(add);
    let per_thread = items / threads.max(1);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let add = std::sync::Arc::clone(&add);
            std::thread::spawn(move || {
                for id in t * per_thread..(t + 1) * per_thread {
                    started(id);
                    if add(id) {
                        ok(id);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    ready();
    std::thread::sleep(std::time::Duration::from_secs(600));
}

/// One moment at which a backend's crash test kills its child.
#[derive(Debug, Clone, Copy)]
pub struct KillPoint {
    /// What the moment is, for messages.
    pub case: &'static str,
    /// Accepted adds before the kill.
    pub kill_after: usize,
    /// Whether the server is paused (SIGSTOP) before the kill, so that
    /// the child dies with requests unanswered.
    pub pause: bool,
}

/// The three kill points: before the first batch, at a random
/// moment with batches in flight, and at a random moment with the
/// server paused. The seed is printed so that a failure can be replayed
/// with `UDS3_CRASH_SEED`.
pub fn kill_points(items: usize) -> [KillPoint; 3] {
    let seed = std::env::var("UDS3_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
        });
    let mut rng = seed | 1;
    let mut next = |below: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % below.max(1) as u64) as usize
    };
    let mid = items / 20 + next(items * 6 / 10);
    let paused = items / 25 + next(items / 5);
    eprintln!(
        "UDS3_CRASH_SEED={seed}: killed after 1, {mid} and (server paused) {paused} accepted adds"
    );
    [
        KillPoint {
            case: "before the first batch",
            kill_after: 1,
            pause: false,
        },
        KillPoint {
            case: "mid-run, batches in flight",
            kill_after: mid,
            pause: false,
        },
        KillPoint {
            case: "server paused, requests unanswered",
            kill_after: paused,
            pause: true,
        },
    ]
}

/// What a server holds of a crash test's ids: the distinct ids, and how
/// many records (rows, documents, vectors, relationships) hold them.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The distinct ids.
    pub ids: HashSet<u64>,
    /// The records; more than `ids.len()` means duplicates.
    pub records: usize,
}

/// The parent's side of a backend's crash test, after the kill: reads
/// what the server holds, reopens the buffer directory (`reopen` opens a
/// batcher on it, closes it and returns the close's report with the
/// batcher's stats after it), and asserts that the close was complete, that the server then holds every id whose
/// `add` was accepted, no id never added, each once, and that the
/// reopened batcher replayed what it wrote (counted as written, never as
/// a conflict or failure); a second reopen replays nothing.
///
/// # Panics
/// When any of that does not hold: this is test tooling.
pub fn verify_recovery<T: std::fmt::Debug, E: std::fmt::Debug>(
    point: &KillPoint,
    said: &Said,
    stored: impl Fn() -> Stored,
    reopen: impl Fn() -> (crate::FlushReport<T, E>, crate::Stats),
) {
    let case = point.case;
    let reopen = || {
        let (report, stats) = reopen();
        assert!(report.is_complete(), "{case}: {report:?}");
        stats
    };
    assert!(
        !said.ok.is_empty(),
        "{case}: the child accepted nothing (is the server up?)"
    );
    let before = stored();
    let stats = reopen();
    let after = stored();
    eprintln!(
        "{case}: {} started, {} accepted, {} stored at the kill, {} replayed, {} stored after",
        said.started.len(),
        said.ok.len(),
        before.ids.len(),
        stats.total_replayed,
        after.ids.len()
    );
    assert_eq!(after.records, after.ids.len(), "{case}: each id once");
    let lost: Vec<&u64> = said.ok.difference(&after.ids).take(10).collect();
    assert!(lost.is_empty(), "{case}: accepted and not stored: {lost:?}");
    let foreign: Vec<&u64> = after.ids.difference(&said.started).take(10).collect();
    assert!(
        foreign.is_empty(),
        "{case}: stored but never added: {foreign:?}"
    );
    // Everything the crashed producer had not resolved came back: what
    // the server gained, and what it held already without the old
    // batcher having recorded it (counted as written by this one, not as
    // foreign conflicts).
    let gained = after.ids.difference(&before.ids).count() as u64;
    assert!(
        stats.total_replayed >= gained,
        "{case}: {stats:?}, gained {gained}"
    );
    assert_eq!(
        stats.total_received, stats.total_replayed,
        "{case}: {stats:?}"
    );
    assert_eq!(stats.total_added, stats.total_replayed, "{case}: {stats:?}");
    assert_eq!(
        (
            stats.total_conflicts,
            stats.total_failed,
            stats.total_dead_letters
        ),
        (0, 0, 0),
        "{case}: {stats:?}"
    );
    assert_eq!(reopen().total_replayed, 0, "{case}: replayed twice");
}

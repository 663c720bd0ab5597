//! The durable buffer against a real server: a producer (the test binary,
//! run again as a child) adds 50,000 items from 4 threads under
//! `Fsync::Always` and is killed with SIGKILL, at batch-core's three kill
//! points (before the first batch, mid-run, with the server paused); a
//! new inserter on the same directory replays what it left. Afterwards
//! the server holds every item whose `add` returned `Ok`, none that was
//! never added, each once, and the new inserter's counters say what it
//! replayed (items the lost requests had stored count as written, not as
//! conflicts). See `batch_core::testing::crash`.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use batch_core::Sink;
use batch_core::read::BatchReader;
use batch_core::testing::crash::{self, Stored};

use super::reading::Readable;
use crate::test_servers::pause_if;

/// Items the producer adds.
pub const ITEMS: u64 = 50_000;
/// Threads the producer adds them from.
const THREADS: u64 = 4;
/// The prefix of the items' ids: item `n` is `crash-{n}`.
pub const PREFIX: &str = "crash-";
/// The child's durable buffer directory.
const DIR: &str = "UDS3_KIT_CRASH_DIR";
/// The name of the child's target ([`Durable::name`]).
const TARGET: &str = "UDS3_KIT_CRASH_TARGET";

/// A backend whose items can go through the durable buffer (its crate's
/// `durable` feature) and whose target a child process can find by name.
pub trait Durable: Readable + Sized {
    /// The target's name, handed to the child process.
    fn name(target: &Self::Target) -> String;
    /// The target named `name` (as [`name`](Self::name) gave it), in the
    /// child process.
    fn named(name: &str) -> Self::Target;
    /// Item `n` of the producer; by default [`Backend::item`](super::Backend::item)
    /// `n` of [`PREFIX`]. A backend with items of several kinds may mix
    /// them, with [`seed`](Self::seed) and [`stored`](Self::stored) to
    /// match.
    fn crash_item(target: &Self::Target, n: u64) -> <Self::Sink as Sink>::Item {
        Self::item(target, PREFIX, n as usize)
    }
    /// Prepares `target` before the producer starts (nothing by default).
    fn seed(_target: &Self::Target) {}
    /// What the server holds of items `0..ITEMS`: by default the ids a
    /// [`BatchReader`] finds, and [`count`](super::Backend::count) as the
    /// records (more records than ids means duplicates).
    fn stored(target: &Self::Target) -> Stored {
        stored_by_reading::<Self>(target)
    }
    /// Removes `target` from the server after its run (by default it
    /// stays, as the other kit tests' targets do).
    fn remove(_target: &Self::Target) {}
}

/// Declares the crash test for backend `$backend` (a type implementing
/// [`Durable`]) in the calling test file, with the `#[ignore]`d test the
/// child process runs. The calling crate needs `durable` among the
/// features the test requires.
#[macro_export]
macro_rules! durable_crash {
    ($backend:ty) => {
        #[test]
        fn a_producer_killed_at_any_moment_loses_no_accepted_item() {
            $crate::kit::durable::killed_producer_loses_no_accepted_item::<$backend>(
                &$crate::kit::durable::test_path(module_path!(), "durable_crash_child"),
            );
        }

        /// The crash test's producer; the crash test runs it.
        #[test]
        #[ignore = "the crash test's child process; it runs it"]
        fn durable_crash_child() {
            $crate::kit::durable::child::<$backend>();
        }
    };
}

/// The libtest name of test `test` declared in module `module_path` (its
/// `module_path!()`, whose first segment is the crate's name).
pub fn test_path(module_path: &str, test: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{test}"),
        None => test.to_owned(),
    }
}

/// The child: adds the items from 4 threads, saying each, until killed.
/// Run outside the crash test (no target in its environment), it passes.
pub fn child<B: Durable>() {
    let (Some(dir), Some(name)) = (std::env::var_os(DIR), std::env::var_os(TARGET)) else {
        return;
    };
    let target = B::named(&name.to_string_lossy());
    let inserter = B::inserter(&target, crash::settings("kit-durable", Path::new(&dir)));
    crash::add_from_threads(THREADS, ITEMS, move |n| {
        B::batcher(&inserter).add(B::crash_item(&target, n)).is_ok()
    });
}

/// The parent: at each kill point, a fresh target and buffer directory,
/// the child `child_test` run and killed, then the recovery checked.
pub fn killed_producer_loses_no_accepted_item<B: Durable>(child_test: &str) {
    for point in crash::kill_points(ITEMS as usize) {
        let dir = tempfile::tempdir().expect("dir");
        let target = B::fresh("durable-crash");
        B::seed(&target);
        let name = B::name(&target);
        let said = crash::run_and_kill(
            child_test,
            &[(DIR, dir.path().as_os_str()), (TARGET, OsStr::new(&name))],
            point.kill_after,
            // Requests go out and hang; the child dies with them in flight.
            |_| pause_if(point.pause, B::SERVICE, Duration::from_millis(500)),
        );
        crash::verify_recovery(
            &point,
            &said,
            || B::stored(&target),
            || {
                let settings = crash::settings("kit-durable", dir.path());
                let reopened = B::inserter(&target, settings);
                let batcher = B::batcher(&reopened);
                (batcher.close(Duration::from_secs(120)), batcher.stats())
            },
        );
        B::remove(&target);
    }
}

/// The number in id `id` of [`PREFIX`].
pub fn crash_number(id: &str) -> u64 {
    let number = id.strip_prefix(PREFIX).unwrap_or(id);
    number
        .parse()
        .unwrap_or_else(|_| panic!("not a crash id: {id}"))
}

/// [`Durable::stored`]'s default: the ids of `0..ITEMS` the backend's
/// reader finds, and the backend's count.
pub fn stored_by_reading<B: Readable>(target: &B::Target) -> Stored {
    let ids: Vec<String> = (0..ITEMS).map(|n| format!("{PREFIX}{n}")).collect();
    let found = BatchReader::new(B::source(target))
        .exists_many(&ids)
        .expect("the stored ids");
    let ids: HashSet<u64> = found.found.keys().map(|id| crash_number(id)).collect();
    Stored {
        ids,
        records: B::count(target) as usize,
    }
}

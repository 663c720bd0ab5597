//! A server that stops answering (SIGSTOP: its sockets stay open) past
//! the client's request timeout. `flush_timeout` returns in time with the
//! items still pending; the batch in flight has an unknown outcome and is
//! replayed once the server answers again; nothing is handed back, the
//! failure handler sees nothing, and the stats equal what the server
//! holds, whether or not the lost attempt was stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Backend, batches_of};
use crate::test_servers;

/// Items added while the server is paused.
const WHILE_PAUSED: usize = 300;

/// Declares the paused-server test for backend `$backend` in the calling
/// test file, which should be a test binary of its own: it pauses the
/// shared server.
#[macro_export]
macro_rules! server_paused {
    ($backend:ty) => {
        #[test]
        fn a_paused_server_bounds_flush_timeout_and_its_lost_batch_counts_once() {
            $crate::kit::paused::lost_answer_is_replayed_once::<$backend>();
        }
    };
}

/// Writes one item (statements prepared, connections open), pauses the
/// server, adds more, bounds a flush with `flush_timeout`, resumes it 4 s
/// after the pause (past the 1 s request timeout) and flushes.
pub fn lost_answer_is_replayed_once<B: Backend>() {
    let _alone = test_servers::one_restart_at_a_time();
    let target = B::fresh("paused");
    let settings = batches_of(100);
    let inserter = B::inserter_with_timeout(&target, settings, Duration::from_secs(1));
    let batcher = B::batcher(&inserter);
    let handed_back = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&handed_back);
    batcher.set_failure_handler(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    batcher.add(B::item(&target, "warm-up", 0)).expect("add");
    assert!(batcher.flush().is_complete(), "the warm-up write");

    let paused = test_servers::pause(B::SERVICE);
    let paused_at = Instant::now();
    for i in 0..WHILE_PAUSED {
        batcher.add(B::item(&target, "p", i)).expect("add");
    }
    let started = Instant::now();
    let report = batcher.flush_timeout(Duration::from_secs(2));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "flush_timeout(2 s) on a paused server returned after {waited:?}"
    );
    assert!(
        report.pending > 0,
        "nothing can be written while paused: {report:?}"
    );
    std::thread::sleep(Duration::from_secs(4).saturating_sub(paused_at.elapsed()));
    paused.resume();

    let report = batcher.flush();
    assert!(
        report.failed.is_empty(),
        "{} handed back, first: {:?}",
        report.failed.len(),
        report.failed.first().map(|f| f.error.to_string())
    );
    assert_eq!(report.pending, 0, "{report:?}");
    let stats = batcher.stats();
    let held = B::count(&target);
    eprintln!("server holds {held}, {stats:?}");
    assert_eq!(held, WHILE_PAUSED as u64 + 1, "every item is on the server");
    assert_eq!(stats.total_added, held, "stats equal the server: {stats:?}");
    assert_eq!(stats.total_conflicts, 0, "{stats:?}");
    assert_eq!(stats.total_failed, 0, "{stats:?}");
    assert!(
        stats.total_retries > 0,
        "the pause was not noticed: {stats:?}"
    );
    assert_eq!(handed_back.load(Ordering::SeqCst), 0, "the failure handler");
}

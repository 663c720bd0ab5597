//! The server stopped and started again while items stream in: nothing
//! lost, nothing counted twice. A batch whose answer died with the
//! connection is replayed, and the replay counts what the lost attempt
//! stored as written, so the stats equal what the server holds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use batch_core::BatcherSettings;

use super::tls::TlsBackend;
use super::{Backend, batches_of};
use crate::test_servers;

/// Items added after the restart is over.
const AFTER: usize = 1000;

/// Declares the restart tests for backend `$backend` (a type implementing
/// [`TlsBackend`]) in the calling test file, which should be a test binary
/// of its own: it restarts the shared server. Over TLS, the server behind
/// the TLS front end restarts (the front end answers the handshake, then
/// closes).
#[macro_export]
macro_rules! server_restart {
    ($backend:ty) => {
        #[test]
        fn a_server_restart_mid_stream_loses_and_doubles_nothing() {
            $crate::kit::restart::streams_through_a_restart::<$backend>(
                <$backend as $crate::kit::Backend>::inserter,
            );
        }

        #[cfg(feature = "tls")]
        #[test]
        fn a_server_restart_behind_tls_loses_and_doubles_nothing() {
            $crate::kit::restart::streams_through_a_restart::<$backend>(
                $crate::kit::restart::over_tls::<$backend>,
            );
        }
    };
}

/// An inserter writing to `target` through the server's TLS endpoint,
/// trusting the test CA.
pub fn over_tls<B: TlsBackend>(target: &B::Target, settings: BatcherSettings) -> B::Inserter {
    let endpoint = test_servers::require_tls(B::SERVICE);
    B::inserter_via(
        &B::url(&endpoint),
        Some(&endpoint.ca_file),
        target,
        settings,
    )
    .expect("an inserter over TLS")
}

/// Streams items from a thread through an inserter made by `inserter`,
/// restarts the server 300 ms in, streams `AFTER` more once it is back,
/// closes, and compares with the server.
pub fn streams_through_a_restart<B: Backend>(
    inserter: impl FnOnce(&B::Target, BatcherSettings) -> B::Inserter,
) {
    let _alone = test_servers::one_restart_at_a_time();
    let target = B::fresh("restart");
    let settings = batches_of(50);
    let inserter = Arc::new(inserter(&target, settings));
    let restarted = Arc::new(AtomicBool::new(false));
    let writer = {
        let (inserter, restarted, target) = (
            Arc::clone(&inserter),
            Arc::clone(&restarted),
            target.clone(),
        );
        std::thread::spawn(move || {
            let (mut added, mut after) = (0, 0);
            while after < AFTER {
                B::batcher(&inserter)
                    .add(B::item(&target, "r", added))
                    .expect("add");
                added += 1;
                if restarted.load(Ordering::Acquire) {
                    after += 1;
                }
                if added % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            added as u64
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    test_servers::restart(B::SERVICE);
    restarted.store(true, Ordering::Release);
    let added = writer.join().expect("writer");
    let report = B::batcher(&inserter).close(Duration::from_secs(120));
    assert!(
        report.is_complete(),
        "{} handed back, first: {:?}",
        report.failed.len(),
        report.failed.first().map(|f| f.error.to_string())
    );
    let stats = B::batcher(&inserter).stats();
    let held = B::count(&target);
    eprintln!("added {added}, server holds {held}, {stats:?}");
    assert!(
        stats.total_retries > 0,
        "the restart was not noticed: {stats:?}"
    );
    assert_eq!(held, added, "every item is on the server");
    assert_eq!(stats.total_added, held, "stats equal the server: {stats:?}");
    assert_eq!(stats.total_conflicts, 0, "{stats:?}");
    assert_eq!(stats.total_failed, 0, "{stats:?}");
}

//! On a tokio current-thread runtime (one thread for everything), a timer
//! task keeps ticking while `add_async` waits on a full batcher whose
//! server is paused, and while `flush_async` waits for it. A blocking wait
//! would stop the ticks for as long as the server is paused (1.5 s).
//! Its own test binary (one test), because it pauses the shared
//! PostgreSQL server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use test_support::test_servers::{self, Service};
use uds3_batch::BatcherSettings;
use uds3_batch::postgres::{Connector, DocumentRow, PostgreSQLBatchInserter, TableName};

const PAUSE: Duration = Duration::from_millis(1500);

#[test]
fn a_timer_keeps_ticking_while_add_async_and_flush_async_wait() {
    let url = test_servers::require(Service::Postgres);
    let table = TableName::new(test_servers::unique_name("not_blocked")).expect("table");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ticks: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let (paused_at, resumed_at, adds_done) = rt.block_on(async {
        let settings = BatcherSettings::builder()
            .batch_size(10)
            .max_pending(20)
            .build()
            .expect("settings");
        let inserter = PostgreSQLBatchInserter::with_table(
            Connector::from_url(&url).expect("url"),
            table.clone(),
            settings,
        )
        .expect("inserter");
        inserter.ensure_schema().expect("schema");
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    ticks.lock().expect("ticks").push(Instant::now());
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        // The pause runs on a thread of its own: pausing is a blocking
        // command, and the runtime's one thread must stay free.
        let (tx, rx) = std::sync::mpsc::channel();
        let pauser = std::thread::spawn(move || {
            let paused = test_servers::pause(Service::Postgres);
            let paused_at = Instant::now();
            tx.send(()).expect("signal");
            std::thread::sleep(PAUSE);
            paused.resume();
            (paused_at, Instant::now())
        });
        while rx.try_recv().is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // 40 rows: the first 20 fill the bound and hang in the paused
        // server; the 21st waits for room.
        for i in 0..40 {
            inserter
                .add_async(DocumentRow::new(format!("r{i}"), "/p", "law", 1, 1))
                .await
                .expect("add");
        }
        let adds_done = Instant::now();
        let report = inserter.flush_async().await;
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(inserter.stats().total_added, 40);
        let (paused_at, resumed_at) = pauser.join().expect("pauser");
        let _ = inserter.close_async().await;
        ticker.abort();
        (paused_at, resumed_at, adds_done)
    });
    assert!(
        adds_done >= resumed_at,
        "the 21st add waited for the paused server"
    );
    let ticks = ticks.lock().expect("ticks").clone();
    let during: Vec<Instant> = ticks
        .iter()
        .copied()
        .filter(|t| *t >= paused_at && *t <= resumed_at)
        .collect();
    let max_gap = ticks
        .windows(2)
        .filter(|w| w[1] >= paused_at && w[0] <= resumed_at)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    eprintln!(
        "{} ticks while paused for {PAUSE:?}; longest gap {max_gap:?}",
        during.len()
    );
    // Not a speed bound: a blocked runtime would show no tick at all for
    // the whole pause; a free one ticks every 10 ms (allowing for a noisy,
    // shared machine).
    assert!(
        during.len() >= 20,
        "only {} ticks in {PAUSE:?}: the runtime was blocked",
        during.len()
    );
    assert!(
        max_gap < PAUSE / 3,
        "a gap of {max_gap:?}: the runtime was blocked"
    );
    let mut client = Connector::from_url(&url)
        .expect("url")
        .connect()
        .expect("connect");
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", table.quoted()), &[])
        .expect("count")
        .get(0);
    assert_eq!(rows, 40);
    client
        .batch_execute(&format!("DROP TABLE {}", table.quoted()))
        .expect("drop");
}

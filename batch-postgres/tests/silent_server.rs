//! A server that stops answering must not block the flusher forever: every
//! request runs under the connector's deadline. A bare TCP listener that
//! never answers stands for a hung server at connect; a stopped backend
//! (SIGSTOP) for one that hangs in the middle of a write.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use batch_core::{BatcherSettings, ErrorClass, SinkError};
use batch_postgres::{Connector, DocumentRow, PostgreSQLBatchInserter, PostgresError};
use common::{backends, client, config, count, drop_table, stop_backend, table, unique};

#[test]
fn a_server_that_never_answers_times_out_as_a_transient_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let holder = std::thread::spawn(move || {
        // Accept and hold the connection open without a byte of answer.
        let held = listener.accept();
        std::thread::sleep(Duration::from_secs(5));
        drop(held);
    });
    let connector = Connector::from_url(&format!("postgres://postgres@{addr}/postgres"))
        .expect("url")
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = PostgreSQLBatchInserter::new(connector, 10).expect_err("a silent server");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited {:?}, not the timeout",
        started.elapsed()
    );
    assert!(matches!(err, PostgresError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("no answer within") && text.contains(&addr.to_string()),
        "{text}"
    );
    assert_eq!(
        err.class(),
        ErrorClass::Transient,
        "nothing was sent: {err}"
    );
    holder.join().expect("holder thread");
}

#[test]
fn a_stopped_backend_times_out_and_the_batch_is_replayed_on_a_new_connection() {
    let t = table("docs_stopped_backend");
    let app = unique("uds3_stop");
    let mut config = config();
    config.application_name(&app);
    let connector = Connector::no_tls(config).timeout(Duration::from_secs(1));
    let settings = BatcherSettings::builder()
        .batch_size(1000)
        .build()
        .expect("settings");
    let ins =
        PostgreSQLBatchInserter::with_table(connector, t.clone(), settings).expect("inserter");
    ins.ensure_schema().expect("schema");
    // A first write prepares the statements, so that the stopped backend
    // holds the write itself.
    ins.add(DocumentRow::new("warm-up", "/p", "c", 1, 1))
        .expect("add");
    assert!(ins.flush().is_complete());
    let pids = backends(&app);
    assert_eq!(pids.len(), 1, "the inserter's backend: {pids:?}");
    let stopped = stop_backend(pids[0]);
    for i in 0..20 {
        ins.add(DocumentRow::new(format!("s{i}"), "/p", "c", 1, 1))
            .expect("add");
    }
    let started = Instant::now();
    let report = ins.flush();
    let waited = started.elapsed();
    drop(stopped);
    assert!(report.is_complete(), "{report:?}");
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
    let stats = ins.stats();
    // Let the stopped backend run what it had received, then compare.
    std::thread::sleep(Duration::from_millis(500));
    let rows = count(&mut client(), &t);
    assert_eq!(rows, 21);
    assert_eq!(stats.total_added, rows as u64, "{stats:?}");
    assert!(stats.total_retries >= 1, "{stats:?}");
    drop_table(&mut client(), &t);
}

//! A server that accepts the TCP connection and then never answers (a hung
//! process, a half-open network path) must not block the flusher forever:
//! the configured timeout turns it into a transient connection error
//! (transient: it came before any request was sent).
//! The "server" here is a bare TCP listener, since no Bolt server can be
//! told to hang on request.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use batch_core::{ErrorClass, SinkError};
use batch_neo4j::{Neo4jConfig, Neo4jError, Neo4jSink};

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
    let config = Neo4jConfig::new(&format!("bolt://{addr}"), "root", "password")
        .expect("config")
        .timeout(Duration::from_millis(300));
    let started = Instant::now();
    let err = Neo4jSink::connect(config).expect_err("a silent server cannot be connected to");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited {:?}, not the timeout",
        started.elapsed()
    );
    assert!(matches!(err, Neo4jError::Connection { .. }), "{err}");
    assert!(err.to_string().contains("no answer within"), "{err}");
    // Nothing was sent yet: transient, not "outcome unknown".
    assert_eq!(err.class(), ErrorClass::Transient, "{err}");
    holder.join().expect("holder thread");
}

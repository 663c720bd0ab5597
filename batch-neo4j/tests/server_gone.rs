//! Neo4j gone (issue 31, bad input): a creator whose server stops
//! answering mid-run. Each try is a transient connection error, retried
//! within the retry budget, never bisected; then the batch comes back
//! whole with an error that names the server's address.
//!
//! "Gone" is built from a relay in front of the real server: the creator
//! connects through it as a user of its own, the relay is dropped (nothing
//! listens at its address any more), and the server closes that user's
//! connection, as a crash would.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_core::{BatcherSettings, ErrorClass, Fallback, RetryPolicy, SinkError};
use batch_neo4j::Neo4jBatchCreator;
use common::{
    admin, config, config_at, count_rels, create_user, drop_user, kill_connections_of,
    seed_doc_and_chunks, unique,
};
use test_support::relay::Relay;

const PASSWORD: &str = "gone-secret-0042";
const TRIES: u32 = 3;

#[test]
fn a_server_that_is_gone_is_retried_then_the_batch_comes_back_naming_it() {
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    // The nodes exist: a server that answered would write every item.
    let mut admin = admin();
    seed_doc_and_chunks(&mut admin, &doc, &chunk, 10);
    let user = unique("gone");
    create_user(&user, PASSWORD);
    let relay = Relay::start(config().addr(), Duration::ZERO).unwrap();
    let addr = relay.addr().to_string();
    let creator = Neo4jBatchCreator::with_settings(
        config_at(&addr, &user, PASSWORD)
            .labels(&doc, &chunk)
            .unwrap(),
        BatcherSettings::builder()
            .batch_size(10)
            .fallback(Fallback::Bisect)
            .retry(
                RetryPolicy::new(
                    TRIES,
                    Duration::from_millis(10),
                    Duration::from_millis(50),
                    Duration::from_secs(30),
                )
                .unwrap(),
            )
            .build()
            .unwrap(),
    )
    .unwrap();

    drop(relay);
    let killed = kill_connections_of(&user);
    drop_user(&user);
    assert_eq!(killed, 1, "the creator's one connection");

    for i in 0..10 {
        creator
            .add_relationship("doc_0", format!("chunk_{i}"), "HAS_CHUNK", [])
            .unwrap();
    }
    let report = creator.flush();
    let stats = creator.stats();
    eprintln!("with the server gone: {stats:?}");
    assert_eq!(report.written, 0);
    assert_eq!(report.failed.len(), 10, "{report:?}");
    // Every try of the budget, then no bisection.
    assert_eq!(stats.total_requests, u64::from(TRIES), "{stats:?}");
    assert_eq!(stats.total_retries, u64::from(TRIES - 1), "{stats:?}");
    assert_eq!(stats.total_fallbacks, 0, "{stats:?}");
    assert_eq!(stats.total_failed, 10, "{stats:?}");
    for failed in &report.failed {
        let error = failed.error.sink_error().expect("a Neo4j error");
        let text = error.to_string();
        assert_eq!(error.class(), ErrorClass::Transient, "{text}");
        assert!(text.contains(&addr), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
    assert_eq!(count_rels(&mut admin, &doc, "HAS_CHUNK", &chunk), 0);
}

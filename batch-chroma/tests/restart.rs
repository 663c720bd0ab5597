//! The server is stopped and started again while records stream in:
//! nothing is lost, nothing is counted twice, over plaintext and over TLS
//! (the server behind the TLS front end restarts; the front end answers
//! the handshake and then closes). Its own test binary, because it stops
//! the shared Chroma service for a few seconds.

mod common;

use std::sync::Arc;
use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaClient, ChromaSink, WriteMode};
use batch_core::{BatcherSettings, RetryPolicy};
use common::{fresh_collection, meta, vector};
use test_support::test_servers::{self, Service};

/// How the inserter reaches the server.
#[derive(Debug, Clone, Copy)]
enum Over {
    Plaintext,
    #[cfg(feature = "tls")]
    Tls,
}

fn streams_through_a_restart(mode: WriteMode, over: Over) {
    let collection = fresh_collection("restart");
    // A short timeout so a request to the stopped server fails fast.
    let builder = match over {
        Over::Plaintext => ChromaClient::builder(&test_servers::require(Service::Chroma)),
        #[cfg(feature = "tls")]
        Over::Tls => {
            let tls = test_servers::require_tls(Service::Chroma);
            ChromaClient::builder(&tls.url).ca_file(tls.ca_file)
        }
    };
    let client = builder
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let collection = client
        .get_or_create_collection(collection.name(), &Default::default())
        .expect("reopen");
    let sink = ChromaSink::new(collection.clone(), mode).expect("sink");
    let settings = BatcherSettings::builder()
        .batch_size(50)
        .retry(RetryPolicy::default())
        .build()
        .expect("settings");
    let inserter = Arc::new(ChromaBatchInserter::with_sink(sink, settings).expect("inserter"));

    let total = 2000;
    let writer = {
        let inserter = Arc::clone(&inserter);
        std::thread::spawn(move || {
            for i in 0..total {
                inserter
                    .add(format!("r{i}"), vector(i, 64), meta(i))
                    .expect("add");
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    test_servers::stop(Service::Chroma);
    std::thread::sleep(Duration::from_secs(2));
    test_servers::start(Service::Chroma);
    writer.join().expect("writer");

    let report = inserter.flush();
    assert!(report.is_complete(), "failed: {:?}", report.failed.first());
    let stats = inserter.stats();
    assert!(
        stats.total_retries > 0,
        "the restart was not noticed: {stats:?}"
    );
    assert_eq!(
        stats.total_added + stats.total_conflicts,
        total as u64,
        "{stats:?}"
    );
    assert_eq!(stats.total_conflicts, 0, "{stats:?}");
    assert_eq!(collection.count().expect("count"), total as u64);
    let got = collection.get(&["r0", "r999", "r1999"]).expect("get");
    assert_eq!(got.embeddings.expect("embeddings")[1], vector(999, 64));
}

#[test]
fn add_through_a_server_restart_loses_nothing() {
    let _alone = test_support::test_servers::one_restart_at_a_time();
    streams_through_a_restart(WriteMode::Add, Over::Plaintext);
    streams_through_a_restart(WriteMode::Upsert, Over::Plaintext);
}

#[cfg(feature = "tls")]
#[test]
fn add_through_a_server_restart_behind_tls_loses_nothing() {
    let _alone = test_support::test_servers::one_restart_at_a_time();
    streams_through_a_restart(WriteMode::Add, Over::Tls);
}

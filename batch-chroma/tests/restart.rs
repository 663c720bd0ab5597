//! The server is stopped and started again while records stream in:
//! nothing is lost, nothing is counted twice. Its own test binary, because
//! it stops the shared Chroma service for a few seconds.

mod common;

use std::sync::Arc;
use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaClient, ChromaSink, WriteMode};
use batch_core::{BatcherSettings, RetryPolicy};
use common::{fresh_collection, meta, vector};
use xtask::test_servers::{self, Service};

fn streams_through_a_restart(mode: WriteMode) {
    let collection = fresh_collection("restart");
    // A short timeout so a request to the stopped server fails fast.
    let client = ChromaClient::builder(&test_servers::require(Service::Chroma))
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
    streams_through_a_restart(WriteMode::Add);
    streams_through_a_restart(WriteMode::Upsert);
}

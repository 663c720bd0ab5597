//! A batch whose answer never comes (the server is paused past the client
//! timeout) is replayed: records the lost attempt stored count as written,
//! so the stats equal the server's count and nothing is handed back. Its
//! own test binary (one test), because it pauses the shared Chroma server.

mod common;

use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaClient, ChromaSink, WriteMode};
use batch_core::{BatcherSettings, RetryPolicy};
use common::{meta, vector};
use test_support::test_servers::{self, Service};

fn replays_an_ambiguous_batch(mode: WriteMode) {
    let client = ChromaClient::builder(&test_servers::require(Service::Chroma))
        .timeout(Duration::from_secs(1))
        .build()
        .expect("client");
    let name = test_servers::unique_name("unknown");
    let collection = client
        .get_or_create_collection(&name, &Default::default())
        .expect("collection");
    // Three records already there with other content: real conflicts in
    // /add mode, replaced in /upsert mode.
    let before = ChromaBatchInserter::new(collection.clone(), 10).expect("inserter");
    for i in 0..3 {
        before
            .add(format!("r{i}"), vector(i + 1000, 64), meta(i))
            .expect("add");
    }
    assert!(before.flush().is_complete());
    drop(before);

    let sink = ChromaSink::new(collection.clone(), mode).expect("sink");
    let settings = BatcherSettings::builder()
        .batch_size(2000)
        .retry(RetryPolicy::default())
        .build()
        .expect("settings");
    let inserter = ChromaBatchInserter::with_sink(sink, settings).expect("inserter");
    let total = 1500;
    for i in 0..total {
        inserter
            .add(format!("r{i}"), vector(i, 64), meta(i))
            .expect("add");
    }
    // The server stops answering before the batch goes out, so the first
    // attempt surely times out (a timed pause mid-request raced a fast
    // server). The request still reaches the paused server's socket and may
    // be applied on resume: the ambiguous case. Whether it was or not, the
    // replay must leave the stats equal to the server.
    let paused = test_servers::pause(Service::Chroma);
    let flusher = std::thread::scope(|s| {
        let handle = s.spawn(|| inserter.flush());
        std::thread::sleep(Duration::from_secs(3));
        paused.resume();
        handle.join().expect("flush")
    });
    assert!(
        flusher.failed.is_empty(),
        "handed back: {:?}",
        flusher.failed.first()
    );
    let stats = inserter.stats();
    assert!(
        stats.total_retries > 0,
        "the pause was not noticed: {stats:?}"
    );
    let count = collection.count().expect("count");
    eprintln!("{mode:?}: server count {count}, {stats:?}");
    match mode {
        WriteMode::Add => {
            assert_eq!(stats.total_conflicts, 3, "{stats:?}");
            assert_eq!(stats.total_added + 3, count, "{stats:?}");
            // r0 kept its old content.
            let got = collection.get(&["r0"]).expect("get");
            assert_eq!(got.embeddings.expect("embeddings")[0], vector(1000, 64));
        }
        WriteMode::Upsert => {
            assert_eq!(stats.total_conflicts, 0, "{stats:?}");
            assert_eq!(stats.total_added, count, "{stats:?}");
        }
    }
    assert_eq!(count, total as u64);
    assert_eq!(stats.total_failed, 0, "{stats:?}");
}

#[test]
fn an_ambiguous_batch_is_replayed_and_counted_once() {
    replays_an_ambiguous_batch(WriteMode::Add);
    replays_an_ambiguous_batch(WriteMode::Upsert);
}

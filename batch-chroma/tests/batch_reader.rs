//! `ChromaDBBatchReader` against the real server: found, missing and
//! duplicate ids in chunks, records read back whole, a server that is not
//! there.

mod common;

// Found, missing and duplicate ids in chunks, many ids, an empty id:
// the conformance kit's reader contract (`test_support::kit::reading`).
test_support::batch_reader_contract!(common::Chroma);

use std::time::Duration;

use batch_chroma::{
    ChromaBatchInserter, ChromaClient, ChromaDBBatchReader, Collection, Metadata, ReadFields,
};
use batch_core::RetryPolicy;
use batch_core::read::ReadError;
use common::{fresh_collection, meta, vector};
use test_support::test_servers::{self, Service};

fn seed(collection: &Collection, n: usize) {
    let inserter = ChromaBatchInserter::new(collection.clone(), 100).expect("start the inserter");
    for i in 0..n {
        inserter
            .add_with_document(format!("c{i}"), vector(i, 8), meta(i), format!("text {i}"))
            .expect("valid record");
    }
    let report = inserter.close(Duration::from_secs(60));
    assert_eq!(report.written, n as u64, "{:?}", report.failed.first());
}

#[test]
fn a_paused_server_is_a_clear_error_after_the_retries() {
    let _one = test_servers::one_restart_at_a_time();
    let url = test_servers::require(Service::Chroma);
    let client = ChromaClient::builder(&url)
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid URL");
    let name = test_servers::unique_name("paused");
    let collection = client
        .get_or_create_collection(&name, &Metadata::new())
        .expect("create");
    let retry = RetryPolicy::new(
        2,
        Duration::from_millis(10),
        Duration::from_millis(20),
        Duration::from_secs(10),
    )
    .expect("policy");
    let reader = ChromaDBBatchReader::new(collection).with_retry(retry);
    let paused = test_servers::pause(Service::Chroma);
    let err = reader.get_many(&["a"]).unwrap_err();
    paused.resume();
    assert!(
        matches!(
            err,
            ReadError::Store {
                attempts: 2,
                ids: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.class() != batch_core::ErrorClass::Fatal, "{err}");
    assert!(err.to_string().contains(client.base_url()), "{err}");
    // Resumed, the same reader answers.
    assert_eq!(reader.get_many(&["a"]).expect("read").missing, ["a"]);
}

#[test]
fn only_the_fields_asked_for_are_read() {
    let collection = fresh_collection("fields");
    seed(&collection, 3);
    let reader =
        ChromaDBBatchReader::new(collection.with_read_fields(ReadFields::WITHOUT_EMBEDDINGS));
    let records = reader.get_many(&["c0", "c2", "c9"]).expect("read");
    assert_eq!(records.missing, ["c9"]);
    let record = records.get("c2").expect("found");
    assert!(record.embedding.is_empty(), "not asked for");
    assert_eq!(record.metadata, meta(2));
    assert_eq!(record.document.as_deref(), Some("text 2"));
}

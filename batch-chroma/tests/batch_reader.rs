//! `ChromaDBBatchReader` against the real server: found, missing and
//! duplicate ids in chunks, records read back whole, a server that is not
//! there.

mod common;

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
fn found_missing_and_duplicate_ids_in_chunks() {
    let collection = fresh_collection("read");
    seed(&collection, 30);
    let reader = ChromaDBBatchReader::new(collection)
        .with_chunk_size(7)
        .expect("chunk size");
    let mut ids: Vec<String> = (20..35).map(|i| format!("c{i}")).collect();
    ids.extend((0..5).map(|i| format!("absent-{i}")));
    ids.extend(["c20", "absent-1", "c34"].map(String::from));
    let records = reader.get_many(&ids).expect("read");
    assert_eq!(records.found.len(), 10, "c20..c29 are stored");
    for i in 20..30 {
        let record = records.get(&format!("c{i}")).expect("found");
        assert_eq!(record.id, format!("c{i}"));
        assert_eq!(record.embedding, vector(i, 8), "exact f32 round trip");
        assert_eq!(record.metadata, meta(i));
        assert_eq!(
            record.document.as_deref(),
            Some(format!("text {i}").as_str())
        );
    }
    let mut missing: Vec<String> = (30..35).map(|i| format!("c{i}")).collect();
    missing.extend((0..5).map(|i| format!("absent-{i}")));
    assert_eq!(records.missing, missing, "each once, in the order asked");
    assert_eq!(records.requests, 3, "20 distinct ids, 7 per request");

    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 10);
    assert_eq!(exists.missing, missing);
    assert_eq!(reader.requests_sent(), 6);
}

#[test]
fn more_ids_than_one_request_takes_go_in_several() {
    let collection = fresh_collection("many");
    seed(&collection, 300);
    let ids: Vec<String> = (0..2500).map(|i| format!("c{i}")).collect();
    let reader = ChromaDBBatchReader::new(collection);
    let per_request = reader.chunk_size() as u64;
    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 300);
    assert_eq!(exists.missing.len(), 2200);
    assert_eq!(exists.requests, 2500_u64.div_ceil(per_request));
}

#[test]
fn an_empty_id_is_refused_before_any_request() {
    let reader = ChromaDBBatchReader::new(fresh_collection("bad-id"));
    let err = reader.exists_many(&["c0", "c1", ""]).unwrap_err();
    assert!(
        matches!(err, ReadError::InvalidId { index: 2, .. }),
        "{err}"
    );
    assert_eq!(reader.requests_sent(), 0);
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

//! `CouchDBBatchReader` against the real server: found, missing and
//! duplicate ids, chunks of `_all_docs`, deleted documents, a server that
//! is not there.

mod common;

use std::time::Duration;

use batch_core::RetryPolicy;
use batch_core::read::ReadError;
use batch_couch::{
    CouchDBBatchInserter, CouchDBBatchReader, CouchDatabase, CouchDoc, DEFAULT_MAX_DOC_BYTES,
    MAX_IDS_PER_READ,
};
use common::{doc, fresh_db};

fn seed(db: &CouchDatabase, n: usize) {
    let ins = CouchDBBatchInserter::new(db.clone(), 500).expect("start the inserter");
    for i in 0..n {
        ins.add(doc(i), Some(&format!("d{i}"))).expect("valid doc");
    }
    let report = ins.close(Duration::from_secs(60));
    assert_eq!(report.written, n as u64, "{:?}", report.failed.first());
}

#[test]
fn found_missing_and_duplicate_ids_in_chunks() {
    let db = fresh_db("read");
    seed(&db, 30);
    let reader = CouchDBBatchReader::new(db.clone())
        .with_chunk_size(7)
        .expect("chunk size");
    // 20 distinct ids (15 stored, 5 not), 3 asked twice.
    let mut ids: Vec<String> = (20..35).map(|i| format!("d{i}")).collect();
    ids.extend((0..5).map(|i| format!("absent-{i}")));
    ids.extend(["d20", "absent-1", "d34"].map(String::from));
    let before = db.requests_sent();
    let docs = reader.get_many(&ids).expect("read");
    assert_eq!(
        docs.found.len(),
        10,
        "d20..d29 are stored, d30..d34 are not"
    );
    for i in 20..30 {
        let stored = docs.get(&format!("d{i}")).expect("found");
        assert_eq!(stored["n"], i);
        assert_eq!(stored["_id"], format!("d{i}"));
        assert!(stored["_rev"].is_string());
    }
    let mut missing: Vec<String> = (30..35).map(|i| format!("d{i}")).collect();
    missing.extend((0..5).map(|i| format!("absent-{i}")));
    assert_eq!(docs.missing, missing, "each once, in the order asked");
    assert_eq!(docs.requests, 3, "20 distinct ids, 7 per request");
    assert_eq!(db.requests_sent() - before, 3, "requests on the wire");

    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 10);
    assert_eq!(exists.missing, missing);
}

#[test]
fn deleted_documents_are_missing() {
    let db = fresh_db("deleted");
    seed(&db, 3);
    let rev = db.get("d1").expect("get").expect("stored")["_rev"]
        .as_str()
        .expect("rev")
        .to_owned();
    let mut doc = doc(1);
    doc["_deleted"] = true.into();
    doc["_rev"] = rev.into();
    db.put(&CouchDoc::new(doc, Some("d1".to_owned()), DEFAULT_MAX_DOC_BYTES).expect("doc"))
        .expect("delete d1");
    let reader = CouchDBBatchReader::new(db);
    let ids = ["d0", "d1", "d2"];
    assert_eq!(reader.get_many(&ids).expect("read").missing, ["d1"]);
    assert_eq!(reader.exists_many(&ids).expect("exists").missing, ["d1"]);
}

#[test]
fn more_ids_than_one_request_takes_go_in_several() {
    let db = fresh_db("many");
    seed(&db, 1500);
    let ids: Vec<String> = (0..2500).map(|i| format!("d{i}")).collect();
    let reader = CouchDBBatchReader::new(db);
    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 1500);
    assert_eq!(exists.missing.len(), 1000);
    assert_eq!(exists.missing.first().map(String::as_str), Some("d1500"));
    assert_eq!(exists.requests, 2500_u64.div_ceil(MAX_IDS_PER_READ as u64));
}

#[test]
fn an_empty_id_is_refused_before_any_request() {
    let db = fresh_db("bad-id");
    let before = db.requests_sent();
    let reader = CouchDBBatchReader::new(db.clone());
    let err = reader.get_many(&["d0", ""]).unwrap_err();
    assert!(
        matches!(err, ReadError::InvalidId { index: 1, .. }),
        "{err}"
    );
    assert_eq!(db.requests_sent(), before);
}

#[test]
fn a_server_that_is_not_there_is_a_clear_error_after_the_retries() {
    let db = CouchDatabase::with_timeout("http://127.0.0.1:9", "nowhere", Duration::from_secs(2))
        .expect("valid URL");
    let retry = RetryPolicy::new(
        3,
        Duration::from_millis(10),
        Duration::from_millis(20),
        Duration::from_secs(10),
    )
    .expect("policy");
    let reader = CouchDBBatchReader::new(db.clone()).with_retry(retry);
    let err = reader.get_many(&["a", "b"]).unwrap_err();
    match &err {
        ReadError::Store {
            attempts,
            ids,
            first,
            ..
        } => {
            assert_eq!((*attempts, *ids, first.as_str()), (3, 2, "a"));
        }
        other => panic!("expected a store error, got {other}"),
    }
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    assert_eq!(db.requests_sent(), 3);
}

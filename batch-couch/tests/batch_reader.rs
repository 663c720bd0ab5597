//! `CouchDBBatchReader` against the real server: found, missing and
//! duplicate ids, chunks of `_all_docs`, deleted documents, a server that
//! is not there.

mod common;

// Found, missing and duplicate ids in chunks, many ids, an empty id:
// the conformance kit's reader contract (`test_support::kit::reading`).
test_support::batch_reader_contract!(common::Couch);

use std::time::Duration;

use batch_core::RetryPolicy;
use batch_core::read::ReadError;
use batch_couch::{
    CouchDBBatchInserter, CouchDBBatchReader, CouchDatabase, CouchDoc, DEFAULT_MAX_DOC_BYTES,
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

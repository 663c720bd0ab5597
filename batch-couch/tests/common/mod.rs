//! Shared set-up of the integration tests: a fresh database per test on
//! the server `cargo xtask services up couch` runs.

#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod tls;

use batch_couch::CouchDatabase;
use serde_json::{Value, json};
use test_support::test_servers::{Service, require, unique_name};

/// A handle to a database that does not exist yet (fails with the
/// `cargo xtask services up` message when the server is away).
pub fn new_db(label: &str) -> CouchDatabase {
    database(&unique_name(&format!("t_{label}")))
}

/// A handle to database `name` on the test server.
pub fn database(name: &str) -> CouchDatabase {
    CouchDatabase::new(&require(Service::Couch), name).expect("valid database name")
}

/// A new, empty database.
pub fn fresh_db(label: &str) -> CouchDatabase {
    let db = new_db(label);
    assert!(db.create_if_missing().expect("create the test database"));
    db
}

/// A small document.
pub fn doc(i: usize) -> Value {
    json!({"type": "test", "n": i, "text": format!("document {i}")})
}

/// CouchDB for the conformance kit (`test_support::kit`): a fresh
/// database, small documents with ids `{prefix}{i}`, the document count.
pub struct Couch;

impl test_support::kit::Backend for Couch {
    type Sink = batch_couch::CouchSink;
    type Inserter = batch_couch::CouchDBBatchInserter;
    type Target = CouchDatabase;
    const SERVICE: Service = Service::Couch;

    fn fresh(prefix: &str) -> CouchDatabase {
        fresh_db(&prefix.replace('-', "_"))
    }

    fn inserter(target: &CouchDatabase, settings: batch_core::BatcherSettings) -> Self::Inserter {
        batch_couch::CouchDBBatchInserter::with_settings(target.clone(), settings)
            .expect("inserter")
    }

    fn inserter_with_timeout(
        target: &CouchDatabase,
        settings: batch_core::BatcherSettings,
        timeout: std::time::Duration,
    ) -> Self::Inserter {
        let db = CouchDatabase::with_timeout(&require(Service::Couch), target.name(), timeout)
            .expect("database");
        Self::inserter(&db, settings)
    }

    fn batcher(inserter: &Self::Inserter) -> &batch_core::Batcher<Self::Sink> {
        inserter.batcher()
    }

    fn item(_: &Self::Target, prefix: &str, i: usize) -> batch_couch::CouchDoc {
        batch_couch::CouchDoc::new(
            doc(i),
            Some(format!("{prefix}{i}")),
            batch_couch::DEFAULT_MAX_DOC_BYTES,
        )
        .expect("a valid document")
    }

    /// Not an object (even `i`) or with a reserved `_` member (odd), as
    /// `CouchDoc::new` refuses and hands it back.
    fn invalid_item(_: &Self::Target, prefix: &str, i: usize) -> batch_couch::CouchDoc {
        let value = if i.is_multiple_of(2) {
            json!([i])
        } else {
            json!({"_secret": i})
        };
        let id = Some(format!("{prefix}{i}"));
        batch_couch::CouchDoc::new(value, id, batch_couch::DEFAULT_MAX_DOC_BYTES)
            .expect_err("an invalid document")
            .doc
    }

    fn count(target: &CouchDatabase) -> u64 {
        target.doc_count().expect("doc_count")
    }
}

impl test_support::kit::reading::Readable for Couch {
    type Source = CouchDatabase;

    fn source(target: &CouchDatabase) -> CouchDatabase {
        target.clone()
    }

    fn assert_read_back(stored: &Value, i: usize) {
        assert_eq!(stored["n"], i);
        assert!(
            stored["_id"].is_string() && stored["_rev"].is_string(),
            "{stored}"
        );
    }
}

impl test_support::kit::durable::Durable for Couch {
    fn name(target: &CouchDatabase) -> String {
        target.name().to_owned()
    }

    fn named(name: &str) -> CouchDatabase {
        database(name)
    }

    fn remove(target: &CouchDatabase) {
        let _ = target.delete();
    }
}

//! Shared set-up of the integration tests: a fresh database per test on
//! the server `cargo xtask services up couch` runs.

#![allow(dead_code)]

use batch_couch::CouchDatabase;
use serde_json::{Value, json};
use test_support::test_servers::{Service, require, unique_name};

/// A handle to a database that does not exist yet (fails with the
/// `cargo xtask services up` message when the server is away).
pub fn new_db(label: &str) -> CouchDatabase {
    let url = require(Service::Couch);
    CouchDatabase::new(&url, &unique_name(&format!("t_{label}"))).expect("valid database name")
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

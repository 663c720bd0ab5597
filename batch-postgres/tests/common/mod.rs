//! Shared helpers of the integration tests: the real server from
//! `cargo xtask services`, unique table names, read-back.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use batch_postgres::{Connector, TableName, WriteMethod};
use postgres::{Client, NoTls};
use xtask::test_servers::{Service, require};

/// Every write method, for tests that must hold for all of them.
pub const METHODS: [WriteMethod; 3] = [WriteMethod::Unnest, WriteMethod::Copy, WriteMethod::PerRow];

/// The server URL; fails the test with the `cargo xtask services up`
/// message when the server is down.
pub fn url() -> String {
    require(Service::Postgres)
}

pub fn connector() -> Connector {
    Connector::from_url(&url()).expect("valid URL")
}

pub fn client() -> Client {
    Client::connect(&url(), NoTls).expect("connect to the test server")
}

/// A table name unique to this test run and call.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn table(prefix: &str) -> TableName {
    TableName::new(unique(prefix)).expect("valid name")
}

pub fn count(client: &mut Client, table: &TableName) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {}", table.quoted()), &[])
        .expect("count")
        .get(0)
}

pub fn drop_table(client: &mut Client, table: &TableName) {
    client
        .batch_execute(&format!("DROP TABLE IF EXISTS {}", table.quoted()))
        .expect("drop");
}

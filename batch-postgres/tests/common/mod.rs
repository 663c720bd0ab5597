//! Shared helpers of the integration tests: the real server from
//! `cargo xtask services`, unique table names, read-back.
#![allow(dead_code)]

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

pub use xtask::test_servers::unique_name as unique;

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

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

/// A server process stopped with SIGSTOP; continued (SIGCONT) when
/// dropped, also when the test panics.
pub struct Stopped {
    pid: i32,
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal("CONT", self.pid);
    }
}

fn signal(signal: &str, pid: i32) {
    let status = std::process::Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("kill -s {signal} {pid} failed");
    }
}

/// Stops one server process (e.g. the backend serving a connection).
pub fn stop_backend(pid: i32) -> Stopped {
    signal("STOP", pid);
    Stopped { pid }
}

/// Stops the whole server (postmaster and every backend, see
/// `cargo xtask services pause`) until the guard drops.
pub fn pause_server() -> xtask::test_servers::Paused {
    xtask::test_servers::pause(Service::Postgres)
}

/// The pids of the backends serving `application_name`.
pub fn backends(application_name: &str) -> Vec<i32> {
    client()
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&application_name],
        )
        .expect("pg_stat_activity")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The test server's configuration, to change a setting before connecting.
pub fn config() -> postgres::Config {
    url().parse().expect("valid URL")
}

//! Shared helpers of the integration tests: the real server from
//! `cargo xtask services`, unique table names, read-back.
#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod tls;

use batch_postgres::{Connector, PostgreSQLBatchInserter, TableName, WriteMethod};
use postgres::{Client, NoTls};
use test_support::relay::Relay;
use test_support::test_servers::{Service, require};

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

pub use test_support::test_servers::unique_name as unique;

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
pub fn pause_server() -> test_support::test_servers::Paused {
    test_support::test_servers::pause(Service::Postgres)
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

/// Creates UDS3's documents table `t` on the test server, directly (an
/// inserter's `ensure_schema`, on its own short connection).
pub fn create_documents_table(t: &TableName) {
    PostgreSQLBatchInserter::with_table(
        connector(),
        t.clone(),
        batch_core::BatcherSettings::default(),
    )
    .expect("inserter")
    .ensure_schema()
    .expect("schema");
}

/// Table `t` created directly, a relay in front of the test server, and
/// an inserter with `settings` (and the default write method) whose
/// connections go through it.
pub fn through_relay(
    t: &TableName,
    settings: batch_core::BatcherSettings,
) -> (Relay, PostgreSQLBatchInserter) {
    through_relay_with(t, WriteMethod::default(), settings)
}

/// [`through_relay`] with the write method `method`.
pub fn through_relay_with(
    t: &TableName,
    method: WriteMethod,
    settings: batch_core::BatcherSettings,
) -> (Relay, PostgreSQLBatchInserter) {
    let direct = url();
    let Some(host_port) = direct
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
    else {
        panic!("no host:port in {direct}");
    };
    let relay = Relay::start(host_port, std::time::Duration::ZERO).expect("relay");
    let through = direct.replacen(host_port, &format!("127.0.0.1:{}", relay.port()), 1);
    // Plaintext: the test server offers TLS, which adds its own turns.
    let through = format!(
        "{through}{}sslmode=disable",
        if through.contains('?') { '&' } else { '?' }
    );
    create_documents_table(t);
    let ins = PostgreSQLBatchInserter::with_method(
        Connector::from_url(&through).expect("url"),
        t.clone(),
        method,
        settings,
    )
    .expect("inserter");
    (relay, ins)
}

/// Runs `f` on a plain thread of its own: the sync `postgres` client must
/// not run inside a runtime (not even on a `spawn_blocking` thread).
pub fn on_plain_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().expect("a plain thread")
}

/// PostgreSQL for the conformance kit (`test_support::kit`): a fresh
/// documents table, rows with ids `{prefix}{i}`, the table's `count(*)`.
pub struct Postgres;

impl test_support::kit::Backend for Postgres {
    type Sink = batch_postgres::TableSink<batch_postgres::DocumentRow>;
    type Inserter = PostgreSQLBatchInserter;
    type Target = TableName;
    const SERVICE: Service = Service::Postgres;

    fn fresh(prefix: &str) -> TableName {
        let t = table(&prefix.replace('-', "_"));
        let create = t.clone();
        on_plain_thread(move || create_documents_table(&create));
        t
    }

    fn inserter(target: &TableName, settings: batch_core::BatcherSettings) -> Self::Inserter {
        PostgreSQLBatchInserter::with_table(connector(), target.clone(), settings)
            .expect("inserter")
    }

    fn inserter_with_timeout(
        target: &TableName,
        settings: batch_core::BatcherSettings,
        timeout: std::time::Duration,
    ) -> Self::Inserter {
        PostgreSQLBatchInserter::with_table(connector().timeout(timeout), target.clone(), settings)
            .expect("inserter")
    }

    fn batcher(inserter: &Self::Inserter) -> &batch_core::Batcher<Self::Sink> {
        inserter.batcher().batcher()
    }

    fn item(_: &Self::Target, prefix: &str, i: usize) -> batch_postgres::DocumentRow {
        batch_postgres::DocumentRow::new(format!("{prefix}{i}"), "/d", "law", i as i64, 1)
    }

    /// A negative count (even `i`) or a NUL byte in the id (odd).
    fn invalid_item(target: &TableName, prefix: &str, i: usize) -> batch_postgres::DocumentRow {
        let mut row = Self::item(target, prefix, i);
        if i.is_multiple_of(2) {
            row.content_length = -1;
        } else {
            row.document_id = format!("{prefix}\0{i}");
        }
        row
    }

    fn count(target: &TableName) -> u64 {
        let target = target.clone();
        on_plain_thread(move || count(&mut client(), &target) as u64)
    }
}

impl test_support::kit::reading::Readable for Postgres {
    type Source = batch_postgres::DocumentsTable;

    fn source(target: &TableName) -> batch_postgres::DocumentsTable {
        batch_postgres::DocumentsTable::new(connector(), target.clone())
    }

    fn assert_read_back(read: &batch_postgres::DocumentRow, i: usize) {
        assert_eq!(
            (
                read.file_path.as_str(),
                read.content_length,
                read.legal_terms_count
            ),
            ("/d", i as i64, 1)
        );
    }
}

impl test_support::kit::durable::Durable for Postgres {
    fn name(target: &TableName) -> String {
        target.name().as_str().to_owned()
    }

    fn named(name: &str) -> TableName {
        TableName::new(name.to_owned()).expect("table name")
    }

    fn remove(target: &TableName) {
        let target = target.clone();
        on_plain_thread(move || drop_table(&mut client(), &target));
    }
}

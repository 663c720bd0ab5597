//! Errors no retry or split can fix (authentication, a missing database,
//! table or column, a missing privilege) end the batch at once: one
//! request, every row handed back with the error, no bisecting.

mod common;

use batch_core::{Batcher, BatcherSettings, SinkError};
use batch_postgres::{
    Connector, DocumentRow, PostgreSQLBatchInserter, PostgresError, TableName, TableSink,
    WriteMethod, documents_spec,
};
use common::{METHODS, client, config, connector, drop_table, table, unique};

const ROWS: usize = 8;

fn settings() -> BatcherSettings {
    let settings = BatcherSettings::builder().batch_size(ROWS);
    settings.build().expect("settings")
}

/// Adds `ROWS` rows, flushes, and checks that all came back with
/// `sqlstate` after exactly one request; returns the first error's text.
fn all_back_after_one_request(
    ins: &Batcher<TableSink<DocumentRow>>,
    sqlstate: &str,
    what: &str,
) -> String {
    for i in 0..ROWS {
        let row = DocumentRow::new(format!("f{i}"), "/p", "c", 1, 1);
        ins.add(row).expect("add");
    }
    let report = ins.flush();
    let stats = ins.stats();
    assert_eq!(stats.total_requests, 1, "{what}: {stats:?}");
    let counted = (
        stats.total_retries,
        stats.total_fallbacks,
        stats.total_added,
    );
    assert_eq!(
        counted,
        (0, 0, 0),
        "{what}: retries, fallbacks, added: {stats:?}"
    );
    assert_eq!(report.failed.len(), ROWS, "{what}: {report:?}");
    for failed in &report.failed {
        let error = failed.error.sink_error().expect("a sink error");
        assert_eq!(error.sqlstate(), Some(sqlstate), "{what}: {error}");
        assert_eq!(error.class(), batch_core::ErrorClass::Fatal, "{what}");
    }
    report.failed[0].error.to_string()
}

fn inserter(connector: Connector, t: &TableName, method: WriteMethod) -> PostgreSQLBatchInserter {
    PostgreSQLBatchInserter::with_method(connector, t.clone(), method, settings())
        .expect("inserter")
}

#[test]
fn missing_table_is_one_request() {
    for method in METHODS {
        let t = table("fatal_no_table");
        let ins = inserter(connector(), &t, method);
        let text = all_back_after_one_request(&ins, "42P01", &format!("{method:?}"));
        assert!(text.contains("does not exist"), "{text}");
    }
}

#[test]
fn missing_column_is_one_request() {
    for method in METHODS {
        let t = table("fatal_no_column");
        let columns = "document_id TEXT PRIMARY KEY, file_path TEXT";
        let sql = format!("CREATE TABLE {} ({columns})", t.quoted());
        client().batch_execute(&sql).expect("create");
        let ins = inserter(connector(), &t, method);
        all_back_after_one_request(&ins, "42703", &format!("{method:?}"));
        drop_table(&mut client(), &t);
    }
}

#[test]
fn missing_privilege_is_one_request() {
    let t = table("fatal_no_grant");
    let role = unique("uds3_noperm");
    let table_sql = batch_postgres::create_documents_table(&t);
    let sql = format!("CREATE ROLE {role} LOGIN; {table_sql}");
    client().batch_execute(&sql).expect("role and table");
    let mut config = config();
    config.user(&role);
    let ins = inserter(Connector::no_tls(config), &t, WriteMethod::Unnest);
    all_back_after_one_request(&ins, "42501", "no INSERT privilege");
    drop(ins);
    drop_table(&mut client(), &t);
    let sql = format!("DROP ROLE {role}");
    client().batch_execute(&sql).expect("drop role");
}

/// A batcher whose sink connects at its first write (the inserters
/// connect when built, so a refused connection would never reach a batch).
fn lazy(connector: Connector) -> Batcher<TableSink<DocumentRow>> {
    let spec = documents_spec(table("fatal_lazy")).expect("spec");
    Batcher::new(TableSink::new(connector, spec), settings()).expect("batcher")
}

#[test]
fn missing_database_is_one_request() {
    let mut config = config();
    config.dbname(&unique("no_such_db"));
    let ins = lazy(Connector::no_tls(config));
    let text = all_back_after_one_request(&ins, "3D000", "missing database");
    assert!(text.contains("127.0.0.1:"), "names host and port: {text}");
}

#[test]
fn refused_login_is_one_request_and_never_shows_the_password() {
    // The test server trusts loopback, so a wrong password alone is not
    // refused; an unknown role with a password is (SQLSTATE 28000).
    let password = "s3cret-Pa55word";
    let mut config = config();
    config.user(&unique("no_such_role")).password(password);
    let connector = Connector::no_tls(config);
    let ins = lazy(connector.clone());
    let text = all_back_after_one_request(&ins, "28000", "refused login");
    assert!(
        text.contains("does not exist") && text.contains(connector.target()),
        "the server's reason and host:port: {text}"
    );
    assert!(!text.contains(password), "no password: {text}");
    // The same at construction.
    let err = PostgreSQLBatchInserter::new(connector, 10).expect_err("refused");
    assert!(matches!(err, PostgresError::Server(_)), "{err}");
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(password), "{shown}");
    }
}

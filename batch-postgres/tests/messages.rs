//! Error messages name the cause (the driver's source chain), the server
//! (host:port, never the password) and the caller's row (its key).

mod common;

use std::net::TcpListener;

use batch_core::{BatcherSettings, Sink};
use batch_postgres::{
    Connector, DocumentRow, DynRow, PostgreSQLBatchInserter, TableBatchInserter, TableSink,
    TableSpec,
};
use common::{client, connector, drop_table, table};

#[test]
fn closed_port_names_host_port_and_the_os_reason() {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let connector = Connector::from_url(&format!(
        "postgres://postgres:pw-xyz@127.0.0.1:{port}/postgres"
    ))
    .expect("url");
    let err = PostgreSQLBatchInserter::new(connector, 10).expect_err("nothing listens");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("pw-xyz"), "{text}");
}

#[test]
fn a_value_of_the_wrong_type_names_the_row_by_its_key() {
    let t = table("msg_encode");
    client()
        .batch_execute(&format!(
            "CREATE TABLE {} (id TEXT PRIMARY KEY, n INTEGER)",
            t.quoted()
        ))
        .expect("create");
    let spec = TableSpec::new(t.clone(), ["id", "n"], ["id"]).expect("spec");
    let settings = BatcherSettings::builder()
        .batch_size(5)
        .build()
        .expect("settings");
    let ins = TableBatchInserter::with_settings(connector(), spec, settings).expect("inserter");
    for i in 0..5 {
        let n: Box<dyn postgres::types::ToSql + Send + Sync> = if i == 3 {
            Box::new("not a number".to_owned())
        } else {
            Box::new(i)
        };
        let row: DynRow = vec![Box::new(format!("k{i}")), n];
        ins.add(row).expect("add");
    }
    let report = ins.flush();
    assert_eq!(report.written, 4);
    assert_eq!(report.failed.len(), 1);
    let text = report.failed[0].error.to_string();
    assert!(text.contains("id=\"k3\""), "names the row: {text}");
    assert!(!text.contains("row 0"), "no sub-batch position: {text}");
    assert!(text.contains("n"), "names the column: {text}");
    drop_table(&mut client(), &t);
}

#[test]
fn documents_are_named_by_their_id() {
    let row = DocumentRow::new("doc-7", "/p", "c", 1, 1);
    assert_eq!(
        <TableSink<DocumentRow> as Sink>::item_key(&row).as_deref(),
        Some("doc-7")
    );
}

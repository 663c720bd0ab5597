//! `sslmode` against the test server, which runs with `ssl=on` (`cargo
//! xtask services up`; certificate for `localhost` and `127.0.0.1` signed
//! by the test CA): rows land over verified TLS, and every refused
//! handshake is fatal, after one request, naming host:port and why.

#![cfg(feature = "tls")]

mod common;

use batch_core::{Batcher, BatcherSettings, ErrorClass, SinkError};
use batch_postgres::{Connector, DocumentRow, PostgreSQLBatchInserter, TableSink, documents_spec};
use common::{client, count, drop_table, table};
use test_support::test_servers::{Service, TlsEndpoint, require_tls};

/// The TLS URL without its query, then `query`.
fn url(ep: &TlsEndpoint, query: &str) -> String {
    let base = ep.url.split_once('?').map_or(ep.url.as_str(), |(b, _)| b);
    format!("{base}?{query}")
}

/// Whether the connector's own session runs over TLS (`pg_stat_ssl`).
fn session_is_tls(connector: &Connector) -> bool {
    connector
        .connect()
        .expect("connect")
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("pg_stat_ssl")
        .get(0)
}

#[test]
fn verify_full_writes_1000_rows_over_tls() {
    let ep = require_tls(Service::Postgres);
    let connector = Connector::from_url(&url(
        &ep,
        &format!("sslmode=verify-full&sslrootcert={}", ep.ca_file.display()),
    ))
    .expect("connector");
    assert!(session_is_tls(&connector), "pg_stat_ssl.ssl must be true");
    let t = table("tls_rows");
    let ins = PostgreSQLBatchInserter::with_table(connector, t.clone(), BatcherSettings::default())
        .expect("inserter");
    ins.ensure_schema().expect("schema");
    for i in 0..1000 {
        ins.add(DocumentRow::new(format!("d{i}"), "/p", "c", 1, 1))
            .expect("add");
    }
    let report = ins.flush();
    assert!(report.failed.is_empty(), "{report:?}");
    let stats = ins.stats();
    drop(ins);
    let mut plain = client();
    assert_eq!(stats.total_added, 1000, "{stats:?}");
    assert_eq!(count(&mut plain, &t), 1000);
    drop_table(&mut plain, &t);
}

/// The error of the first write through `connector`: one request, fatal.
fn refused(connector: Connector, what: &str) -> String {
    let spec = documents_spec(table("tls_refused")).expect("spec");
    let settings = BatcherSettings::builder()
        .batch_size(4)
        .build()
        .expect("settings");
    let ins = Batcher::new(TableSink::new(connector, spec), settings).expect("batcher");
    for i in 0..4 {
        ins.add(DocumentRow::new(format!("r{i}"), "/p", "c", 1, 1))
            .expect("add");
    }
    let report = ins.flush();
    let stats = ins.stats();
    assert_eq!(stats.total_requests, 1, "{what}: {stats:?}");
    assert_eq!(
        (stats.total_retries, stats.total_fallbacks),
        (0, 0),
        "{what}"
    );
    assert_eq!(report.failed.len(), 4, "{what}: {report:?}");
    let error = report.failed[0].error.sink_error().expect("a sink error");
    assert_eq!(error.class(), ErrorClass::Fatal, "{what}: {error}");
    let text = report.failed[0].error.to_string();
    eprintln!("{what}: {text}");
    text
}

#[test]
fn an_untrusted_certificate_is_fatal_and_named() {
    let ep = require_tls(Service::Postgres);
    for mode in ["verify-full", "verify-ca", "require"] {
        let connector = Connector::from_url(&url(
            &ep,
            &format!("sslmode={mode}&sslrootcert={}", ep.other_ca_file.display()),
        ))
        .expect("connector");
        let target = connector.target().to_owned();
        let text = refused(connector, mode);
        assert!(
            text.contains(&target) && text.contains("unknown issuer"),
            "{mode}: {text}"
        );
    }
}

#[test]
fn a_wrong_host_name_fails_verify_full_only() {
    // The server listens on 127.0.0.1 alone: dial it, but check the
    // certificate against a name it does not carry.
    let ep = require_tls(Service::Postgres);
    let port = ep
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .expect("port")
        .to_owned();
    let conn = |mode: &str| {
        format!(
            "host=wronghost.invalid hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres \
             sslmode={mode} sslrootcert='{}'",
            ep.ca_file.display()
        )
    };
    let connector = Connector::from_url(&conn("verify-full")).expect("connector");
    let text = refused(connector, "wrong host");
    assert!(
        text.contains(&format!("wronghost.invalid:{port}"))
            && text.contains("not valid for the host name"),
        "{text}"
    );
    let connector = Connector::from_url(&conn("verify-ca")).expect("connector");
    assert!(
        session_is_tls(&connector),
        "verify-ca ignores the host name"
    );
}

#[test]
fn require_encrypts_and_disable_stays_plaintext() {
    let ep = require_tls(Service::Postgres);
    let require = Connector::from_url(&url(&ep, "sslmode=require")).expect("require");
    assert!(session_is_tls(&require), "sslmode=require");
    let disable = Connector::from_url(&url(&ep, "sslmode=disable")).expect("disable");
    assert!(!session_is_tls(&disable), "sslmode=disable");
}

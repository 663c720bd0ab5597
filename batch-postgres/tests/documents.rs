//! The documents preset against the real PostgreSQL of `cargo xtask services`.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use batch_core::{BatchError, BatcherSettings};
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter, PostgresError, TableName, WriteMethod};
use common::{METHODS, client, connector, count, drop_table, table};

const WAIT: Duration = Duration::from_secs(30);

fn inserter(table: &TableName, method: WriteMethod, batch_size: usize) -> PostgreSQLBatchInserter {
    let settings = BatcherSettings::builder()
        .name("pg-test")
        .batch_size(batch_size)
        .build()
        .expect("settings");
    let inserter =
        PostgreSQLBatchInserter::with_method(connector(), table.clone(), method, settings)
            .expect("inserter");
    inserter.ensure_schema().expect("schema");
    inserter
}

type Stored = (
    String,
    String,
    String,
    i64,
    i64,
    SystemTime,
    Option<f64>,
    String,
);

fn read(table: &TableName) -> Vec<Stored> {
    client()
        .query(
            &format!(
                "SELECT document_id, file_path, classification, content_length, legal_terms_count, \
                 created_at, quality_score, processing_status FROM {} ORDER BY document_id",
                table.quoted()
            ),
            &[],
        )
        .expect("read back")
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect()
}

fn at(secs: u64, micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
}

#[test]
fn every_column_reads_back_exactly_with_every_method() {
    for method in METHODS {
        let t = table("docs_exact");
        let ins = inserter(&t, method, 3);
        for i in 0..7_i64 {
            // Unset where UDS3 passed None: quality NULL, status
            // `completed`, created_at now.
            let mut row = DocumentRow::new(
                format!("doc-{i}"),
                format!("/p/{i}.pdf"),
                "law",
                1000 + i,
                i,
            );
            row.quality_score = (i % 2 == 0).then_some(0.125 * i as f64);
            if i == 3 {
                row = row.processing_status("failed");
            }
            if i != 5 {
                row = row.created_at(at(1_700_000_000 + i as u64, 123_456));
            }
            ins.add(row).expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        assert_eq!(report.written, 7, "{method:?}");
        let rows = read(&t);
        assert_eq!(rows.len(), 7);
        for (i, row) in rows.iter().enumerate() {
            let i = i as i64;
            assert_eq!(row.0, format!("doc-{i}"));
            assert_eq!(row.1, format!("/p/{i}.pdf"));
            assert_eq!(row.2, "law");
            assert_eq!(row.3, 1000 + i);
            assert_eq!(row.4, i);
            if i == 5 {
                let age = SystemTime::now()
                    .duration_since(row.5)
                    .expect("created_at defaults to now");
                assert!(age < Duration::from_secs(600), "{age:?}");
            } else {
                assert_eq!(row.5, at(1_700_000_000 + i as u64, 123_456));
            }
            assert_eq!(row.6, (i % 2 == 0).then_some(0.125 * i as f64));
            assert_eq!(row.7, if i == 3 { "failed" } else { "completed" });
        }
        let stats = ins.get_stats();
        assert_eq!(stats["total_added"], 7);
        assert_eq!(stats["total_batches"], 3);
        assert_eq!(stats["total_fallbacks"], 0);
        assert_eq!(stats["pending"], 0);
        assert_eq!(count(&mut client(), &t), 7);
        drop_table(&mut client(), &t);
    }
}

#[test]
fn upsert_updates_all_but_created_at_and_rerun_changes_nothing() {
    for method in METHODS {
        let t = table("docs_upsert");
        let ins = inserter(&t, method, 100);
        let first = |i: i64| {
            DocumentRow::new(format!("d{i}"), "/old", "a", 1, 1).created_at(at(1_600_000_000, 0))
        };
        for i in 0..5 {
            ins.add(first(i)).expect("add");
        }
        assert_eq!(ins.flush().written, 5);
        let second = |i: i64| {
            DocumentRow::new(format!("d{i}"), "/new", "b", 2, 3)
                .created_at(at(1_650_000_000, 0))
                .quality_score(0.5)
                .processing_status("reviewed")
        };
        for i in 0..5 {
            ins.add(second(i)).expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete());
        assert_eq!((report.written, report.conflicts), (5, 0), "{method:?}");
        for row in read(&t) {
            assert_eq!(
                (row.1.as_str(), row.2.as_str(), row.3, row.4),
                ("/new", "b", 2, 3)
            );
            assert_eq!(row.5, at(1_600_000_000, 0), "created_at is kept on update");
            assert_eq!((row.6, row.7.as_str()), (Some(0.5), "reviewed"));
        }
        // Same input again: nothing is rewritten (xmin unchanged), all conflicts.
        let xmins = |c: &mut postgres::Client| -> Vec<String> {
            c.query(
                &format!("SELECT xmin::text FROM {} ORDER BY document_id", t.quoted()),
                &[],
            )
            .expect("xmin")
            .iter()
            .map(|r| r.get(0))
            .collect()
        };
        let before = (read(&t), xmins(&mut client()));
        for i in 0..5 {
            ins.add(second(i)).expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete());
        assert_eq!((report.written, report.conflicts), (0, 5), "{method:?}");
        assert_eq!((read(&t), xmins(&mut client())), before, "{method:?}");
        assert_eq!(ins.stats().total_conflicts, 5);
        drop_table(&mut client(), &t);
    }
}

#[test]
fn duplicate_id_in_one_batch_last_one_wins() {
    for method in METHODS {
        let t = table("docs_dup");
        let ins = inserter(&t, method, 10);
        ins.add(DocumentRow::new("same", "/1", "first", 1, 1))
            .expect("add");
        ins.add(DocumentRow::new("other", "/o", "x", 1, 1))
            .expect("add");
        ins.add(DocumentRow::new("same", "/2", "second", 2, 2))
            .expect("add");
        ins.add(DocumentRow::new("same", "/3", "last", 3, 3))
            .expect("add");
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        assert_eq!(
            (report.written, report.conflicts),
            (2, 2),
            "{method:?}: superseded duplicates count as conflicts"
        );
        assert_eq!(ins.stats().total_fallbacks, 0, "{method:?}");
        let rows = read(&t);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[1].0.as_str(),
                rows[1].1.as_str(),
                rows[1].2.as_str(),
                rows[1].3
            ),
            ("same", "/3", "last", 3)
        );
        drop_table(&mut client(), &t);
    }
}

#[test]
fn stats_equal_the_table_with_a_duplicate_key_in_the_batch() {
    for method in METHODS {
        let t = table("docs_dup_stats");
        let ins = inserter(&t, method, 10);
        for i in 0..10 {
            // d3 twice: 10 rows added, 9 in the table.
            let id = if i == 9 { 3 } else { i };
            ins.add(DocumentRow::new(
                format!("d{id}"),
                format!("/{i}"),
                "c",
                1,
                1,
            ))
            .expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        let stats = ins.stats();
        let rows = count(&mut client(), &t);
        assert_eq!(rows, 9, "{method:?}");
        assert_eq!(stats.total_added, rows as u64, "{method:?}: {stats:?}");
        assert_eq!(stats.total_conflicts, 1, "{method:?}: {stats:?}");
        drop_table(&mut client(), &t);
    }
}

#[test]
fn one_bad_row_comes_back_with_sqlstate_and_the_rest_is_written() {
    for method in METHODS {
        let t = table("docs_bad");
        let ins = inserter(&t, method, 50);
        client()
            .batch_execute(&format!(
                "ALTER TABLE {} ADD CONSTRAINT no_secret CHECK (classification <> 'secret')",
                t.quoted()
            ))
            .expect("constraint");
        for i in 0..40 {
            let class = if i == 17 { "secret" } else { "public" };
            ins.add(DocumentRow::new(format!("d{i:02}"), "/p", class, 1, 1))
                .expect("add");
        }
        let report = ins.flush();
        assert_eq!(report.written, 39, "{method:?}");
        assert_eq!(report.failed.len(), 1, "{method:?}");
        let failed = &report.failed[0];
        assert_eq!(failed.item.document_id, "d17");
        let error = failed.error.sink_error().expect("a server error");
        assert_eq!(error.sqlstate(), Some("23514"), "{error}");
        match error {
            PostgresError::Server(e) => {
                assert!(e.message.contains("no_secret"), "{e}");
                assert_eq!(e.constraint.as_deref(), Some("no_secret"));
            }
            other => panic!("expected a server error, got {other}"),
        }
        assert!(error.to_string().contains("23514"));
        let stats = ins.stats();
        assert_eq!(
            (stats.total_added, stats.total_failed, stats.total_fallbacks),
            (39, 1, 1)
        );
        assert_eq!(count(&mut client(), &t), 39);
        drop_table(&mut client(), &t);
    }
}

#[test]
fn invalid_rows_are_refused_before_the_server() {
    let t = table("docs_invalid");
    let ins = inserter(&t, WriteMethod::Unnest, 10);
    let nul = ins
        .add(DocumentRow::new("a\0b", "/p", "c", 1, 1))
        .expect_err("NUL refused");
    assert!(
        matches!(nul.error, BatchError::Invalid(ref m) if m.contains("NUL")),
        "{}",
        nul.error
    );
    assert_eq!(nul.item.document_id, "a\0b", "the row comes back unchanged");
    assert!(ins.add(DocumentRow::new("", "/p", "c", 1, 1)).is_err());
    assert!(ins.add(DocumentRow::new("x", "/p", "c", -1, 1)).is_err());
    assert!(
        ins.add(DocumentRow::new("x", "/p", "c", 1, 1).quality_score(f64::NAN))
            .is_err()
    );
    assert!(
        ins.add(DocumentRow::new("x", "/p", "c", 1, 1).quality_score(1.01))
            .is_err()
    );
    let report = ins.flush();
    assert!(report.is_complete());
    assert_eq!(ins.stats().total_received, 0);
    assert_eq!(count(&mut client(), &t), 0);
    drop_table(&mut client(), &t);
}

#[test]
fn sql_metacharacters_are_stored_verbatim_in_values_and_names() {
    let weird = [
        "'; DROP TABLE documents; --",
        "\"quoted\" \\backslash\\ $1 $$dollar$$ %s %(x)s",
        "ünïcødé 文書 🚀",
        "tab\tnew\nline\r",
        "NULL",
    ];
    for method in METHODS {
        let t = TableName::new(common::unique("we\"ird; DROP TABLE x; --")).expect("valid");
        let ins = inserter(&t, method, 3);
        for (i, text) in weird.iter().enumerate() {
            ins.add(
                DocumentRow::new(format!("{text}#{i}"), *text, *text, 1, 1)
                    .processing_status(*text),
            )
            .expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        let rows = read(&t);
        assert_eq!(rows.len(), weird.len());
        for (i, text) in weird.iter().enumerate() {
            let row = rows
                .iter()
                .find(|r| r.0 == format!("{text}#{i}"))
                .expect("stored verbatim");
            assert_eq!(
                (row.1.as_str(), row.2.as_str(), row.7.as_str()),
                (*text, *text, *text)
            );
        }
        drop_table(&mut client(), &t);
    }
}

#[test]
fn stats_equal_select_count_over_many_batches() {
    let t = table("docs_count");
    let ins = inserter(&t, WriteMethod::Unnest, 37);
    for i in 0..1000 {
        ins.add(DocumentRow::new(format!("n{i}"), "/p", "c", i, 0))
            .expect("add");
    }
    let report = ins.close(WAIT);
    assert!(report.is_complete());
    let stats = ins.stats();
    assert_eq!(stats.total_added as i64, count(&mut client(), &t));
    assert_eq!(stats.total_added, 1000);
    assert_eq!(stats.total_batches, 28);
    drop_table(&mut client(), &t);
}

#[test]
fn missing_table_hands_every_row_back_with_42p01() {
    let t = table("docs_missing");
    let settings = BatcherSettings::builder()
        .batch_size(4)
        .build()
        .expect("settings");
    let ins =
        PostgreSQLBatchInserter::with_table(connector(), t.clone(), settings).expect("inserter");
    for i in 0..4 {
        ins.add(DocumentRow::new(format!("m{i}"), "/p", "c", 1, 1))
            .expect("add");
    }
    let report = ins.flush();
    assert_eq!(report.failed.len(), 4);
    for failed in &report.failed {
        let error = failed.error.sink_error().expect("sink error");
        assert_eq!(error.sqlstate(), Some("42P01"), "{error}");
    }
    assert_eq!(ins.stats().total_added, 0);
}

#[test]
fn unreachable_server_is_reported_at_construction() {
    let connector = batch_postgres::Connector::from_url("postgres://postgres@127.0.0.1:1/postgres")
        .expect("url");
    let error = PostgreSQLBatchInserter::new(connector, 10).expect_err("nothing listens on port 1");
    assert!(matches!(error, PostgresError::Connection { .. }), "{error}");
}

/// `statement_sql` is the statement the sink runs: sent by hand with one
/// array per column, it writes the rows and returns their row numbers.
#[test]
fn statement_sql_is_the_statement_the_sink_runs() {
    use batch_postgres::{TableSink, documents_spec};
    let t = table("docs_statement");
    client()
        .batch_execute(&batch_postgres::create_documents_table(&t))
        .expect("create");
    let mut sink: TableSink<DocumentRow> =
        TableSink::new(connector(), documents_spec(t.clone()).expect("spec"));
    let sql = sink.statement_sql().expect("statement");
    assert!(
        sql.contains("UNNEST(") && sql.contains("ON CONFLICT"),
        "{sql}"
    );
    let ids = vec!["a".to_owned(), "b".to_owned()];
    let texts = vec!["/p".to_owned(), "/q".to_owned()];
    let numbers = vec![1_i64, 2];
    let created = vec![UNIX_EPOCH + Duration::from_secs(1_700_000_000); 2];
    let scores: Vec<Option<f64>> = vec![Some(0.5), None];
    let status = vec!["completed".to_owned(); 2];
    let written: Vec<i64> = client()
        .query(
            &sql,
            &[
                &ids, &texts, &texts, &numbers, &numbers, &created, &scores, &status,
            ],
        )
        .expect("the statement runs")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(count(&mut client(), &t), 2);
    drop_table(&mut client(), &t);
}

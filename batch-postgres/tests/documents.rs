//! The documents preset against the real PostgreSQL of `cargo xtask services`.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use batch_core::{BatchError, BatcherSettings};
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter, PostgresError, TableName, WriteMethod};
use common::{METHODS, client, connector, count, drop_table, table};

const WAIT: Duration = Duration::from_secs(30);

fn settings(batch_size: usize) -> BatcherSettings {
    let settings = BatcherSettings::builder().name("pg-test");
    settings.batch_size(batch_size).build().expect("settings")
}

fn inserter(table: &TableName, method: WriteMethod, batch_size: usize) -> PostgreSQLBatchInserter {
    let (connector, settings) = (connector(), settings(batch_size));
    let inserter = PostgreSQLBatchInserter::with_method(connector, table.clone(), method, settings)
        .expect("inserter");
    inserter.ensure_schema().expect("schema");
    inserter
}

/// Runs `test` once per write method (printed: a failure's output names
/// it), each on a fresh table named by `prefix` and an inserter of
/// `batch_size`, and drops the table afterwards.
fn with_each_method(
    prefix: &str,
    batch_size: usize,
    test: impl Fn(WriteMethod, &TableName, &PostgreSQLBatchInserter),
) {
    for method in METHODS {
        eprintln!("write method {method:?}");
        let t = table(prefix);
        test(method, &t, &inserter(&t, method, batch_size));
        drop_table(&mut client(), &t);
    }
}

/// Document id, file path, classification, content length, legal terms,
/// created at, quality score, processing status.
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
    let columns = "document_id, file_path, classification, content_length, legal_terms_count, \
                   created_at, quality_score, processing_status";
    let t = table.quoted();
    let sql = format!("SELECT {columns} FROM {t} ORDER BY document_id");
    let rows = client().query(&sql, &[]).expect("read back");
    rows.iter()
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
    let quality = |i: i64| (i % 2 == 0).then_some(0.125 * i as f64);
    let status = |i: i64| if i == 3 { "failed" } else { "completed" };
    let created = |i: i64| at(1_700_000_000 + i as u64, 123_456);
    with_each_method("docs_exact", 3, |method, t, ins| {
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
            row.quality_score = quality(i);
            if i == 3 {
                row = row.processing_status("failed");
            }
            if i != 5 {
                row = row.created_at(created(i));
            }
            ins.add(row).expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        assert_eq!(report.written, 7, "{method:?}");
        let rows = read(t);
        assert_eq!(rows.len(), 7, "{method:?}");
        for (i, row) in rows.into_iter().enumerate() {
            let i = i as i64;
            let created_at = if i == 5 {
                let age = SystemTime::now()
                    .duration_since(row.5)
                    .expect("created_at defaults to now");
                assert!(age < Duration::from_secs(600), "{method:?}: {age:?}");
                row.5
            } else {
                created(i)
            };
            let expected = (
                format!("doc-{i}"),
                format!("/p/{i}.pdf"),
                "law".to_owned(),
                1000 + i,
                i,
                created_at,
                quality(i),
                status(i).to_owned(),
            );
            assert_eq!(row, expected, "{method:?}: row {i}");
        }
        let stats = ins.get_stats();
        for (key, value) in [
            ("total_added", 7),
            ("total_batches", 3),
            ("total_fallbacks", 0),
            ("pending", 0),
        ] {
            assert_eq!(stats[key], value, "{method:?}: {key}");
        }
        assert_eq!(count(&mut client(), t), 7, "{method:?}");
    });
}

#[test]
fn upsert_updates_all_but_created_at_and_rerun_changes_nothing() {
    let xmins = |t: &TableName| -> Vec<String> {
        let sql = format!("SELECT xmin::text FROM {} ORDER BY document_id", t.quoted());
        let rows = client().query(&sql, &[]).expect("xmin");
        rows.iter().map(|r| r.get(0)).collect()
    };
    let second = |i: i64| {
        DocumentRow::new(format!("d{i}"), "/new", "b", 2, 3)
            .created_at(at(1_650_000_000, 0))
            .quality_score(0.5)
            .processing_status("reviewed")
    };
    with_each_method("docs_upsert", 100, |method, t, ins| {
        let add_all =
            |row: &dyn Fn(i64) -> DocumentRow| (0..5).for_each(|i| ins.add(row(i)).expect("add"));
        add_all(&|i| {
            DocumentRow::new(format!("d{i}"), "/old", "a", 1, 1).created_at(at(1_600_000_000, 0))
        });
        assert_eq!(ins.flush().written, 5, "{method:?}");
        add_all(&second);
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}");
        assert_eq!((report.written, report.conflicts), (5, 0), "{method:?}");
        // Every column updated but created_at, which is kept on update.
        let (new, b, reviewed) = ("/new".to_owned(), "b".to_owned(), "reviewed".to_owned());
        let updated = |i| {
            (
                format!("d{i}"),
                new.clone(),
                b.clone(),
                2,
                3,
                at(1_600_000_000, 0),
                Some(0.5),
                reviewed.clone(),
            )
        };
        assert_eq!(
            read(t),
            (0..5).map(updated).collect::<Vec<_>>(),
            "{method:?}"
        );
        // Same input again: nothing is rewritten (xmin unchanged), all conflicts.
        let before = (read(t), xmins(t));
        add_all(&second);
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}");
        assert_eq!((report.written, report.conflicts), (0, 5), "{method:?}");
        assert_eq!((read(t), xmins(t)), before, "{method:?}");
        assert_eq!(ins.stats().total_conflicts, 5, "{method:?}");
    });
}

#[test]
fn duplicate_id_in_one_batch_last_one_wins() {
    with_each_method("docs_dup", 10, |method, t, ins| {
        for (id, path, class, n) in [
            ("same", "/1", "first", 1),
            ("other", "/o", "x", 1),
            ("same", "/2", "second", 2),
            ("same", "/3", "last", 3),
        ] {
            let row = DocumentRow::new(id, path, class, n, n);
            ins.add(row).expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        let counted = (report.written, report.conflicts);
        assert_eq!(
            counted,
            (2, 2),
            "{method:?}: superseded duplicates count as conflicts"
        );
        assert_eq!(ins.stats().total_fallbacks, 0, "{method:?}");
        let rows = read(t);
        assert_eq!(rows.len(), 2, "{method:?}");
        let last = (
            rows[1].0.as_str(),
            rows[1].1.as_str(),
            rows[1].2.as_str(),
            rows[1].3,
        );
        assert_eq!(last, ("same", "/3", "last", 3), "{method:?}");
    });
}

#[test]
fn stats_equal_the_table_with_a_duplicate_key_in_the_batch() {
    with_each_method("docs_dup_stats", 10, |method, t, ins| {
        for i in 0..10 {
            // d3 twice: 10 rows added, 9 in the table.
            let id = if i == 9 { 3 } else { i };
            let row = DocumentRow::new(format!("d{id}"), format!("/{i}"), "c", 1, 1);
            ins.add(row).expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        let stats = ins.stats();
        let rows = count(&mut client(), t);
        assert_eq!(rows, 9, "{method:?}");
        assert_eq!(stats.total_added, rows as u64, "{method:?}: {stats:?}");
        assert_eq!(stats.total_conflicts, 1, "{method:?}: {stats:?}");
    });
}

#[test]
fn one_bad_row_comes_back_with_sqlstate_and_the_rest_is_written() {
    with_each_method("docs_bad", 50, |method, t, ins| {
        let check = "ADD CONSTRAINT no_secret CHECK (classification <> 'secret')";
        client()
            .batch_execute(&format!("ALTER TABLE {} {check}", t.quoted()))
            .expect("constraint");
        for i in 0..40 {
            let class = if i == 17 { "secret" } else { "public" };
            let row = DocumentRow::new(format!("d{i:02}"), "/p", class, 1, 1);
            ins.add(row).expect("add");
        }
        let report = ins.flush();
        assert_eq!(report.written, 39, "{method:?}");
        assert_eq!(report.failed.len(), 1, "{method:?}");
        let failed = &report.failed[0];
        assert_eq!(failed.item.document_id, "d17", "{method:?}");
        let error = failed.error.sink_error().expect("a server error");
        assert_eq!(error.sqlstate(), Some("23514"), "{method:?}: {error}");
        let PostgresError::Server(e) = error else {
            panic!("{method:?}: expected a server error, got {error}");
        };
        assert!(e.message.contains("no_secret"), "{method:?}: {e}");
        assert_eq!(e.constraint.as_deref(), Some("no_secret"), "{method:?}");
        assert!(error.to_string().contains("23514"), "{method:?}: {error}");
        let stats = ins.stats();
        let counted = (stats.total_added, stats.total_failed, stats.total_fallbacks);
        assert_eq!(counted, (39, 1, 1), "{method:?}: added, failed, fallbacks");
        assert_eq!(count(&mut client(), t), 39, "{method:?}");
    });
}

#[test]
fn invalid_rows_are_refused_before_the_server() {
    let t = table("docs_invalid");
    let ins = inserter(&t, WriteMethod::Unnest, 10);
    let nul = ins
        .add(DocumentRow::new("a\0b", "/p", "c", 1, 1))
        .expect_err("NUL refused");
    let names_nul = matches!(nul.error, BatchError::Invalid(ref m) if m.contains("NUL"));
    assert!(names_nul, "{}", nul.error);
    assert_eq!(nul.item.document_id, "a\0b", "the row comes back unchanged");
    let row = || DocumentRow::new("x", "/p", "c", 1, 1);
    for (case, bad) in [
        ("empty id", DocumentRow::new("", "/p", "c", 1, 1)),
        ("negative length", DocumentRow::new("x", "/p", "c", -1, 1)),
        ("NaN quality", row().quality_score(f64::NAN)),
        ("quality over 1", row().quality_score(1.01)),
    ] {
        assert!(ins.add(bad).is_err(), "{case} accepted");
    }
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
    with_each_method("we\"ird; DROP TABLE x; --", 3, |method, t, ins| {
        for (i, text) in weird.iter().enumerate() {
            let row = DocumentRow::new(format!("{text}#{i}"), *text, *text, 1, 1);
            ins.add(row.processing_status(*text)).expect("add");
        }
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        let rows = read(t);
        assert_eq!(rows.len(), weird.len(), "{method:?}");
        for (i, text) in weird.iter().enumerate() {
            let id = format!("{text}#{i}");
            let row = rows.iter().find(|r| r.0 == id).expect("stored verbatim");
            let stored = (row.1.as_str(), row.2.as_str(), row.7.as_str());
            assert_eq!(stored, (*text, *text, *text), "{method:?}");
        }
    });
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
    assert_eq!(
        (stats.total_added, stats.total_batches),
        (1000, 28),
        "added, batches"
    );
    drop_table(&mut client(), &t);
}

#[test]
fn missing_table_hands_every_row_back_with_42p01() {
    let t = table("docs_missing");
    let ins =
        PostgreSQLBatchInserter::with_table(connector(), t.clone(), settings(4)).expect("inserter");
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
    let url = "postgres://postgres@127.0.0.1:1/postgres";
    let connector = batch_postgres::Connector::from_url(url).expect("url");
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
    let spec = documents_spec(t.clone()).expect("spec");
    let mut sink: TableSink<DocumentRow> = TableSink::new(connector(), spec);
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
    let columns: [&(dyn postgres::types::ToSql + Sync); 8] = [
        &ids, &texts, &texts, &numbers, &numbers, &created, &scores, &status,
    ];
    let rows = client().query(&sql, &columns).expect("the statement runs");
    let written: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(count(&mut client(), &t), 2);
    drop_table(&mut client(), &t);
}

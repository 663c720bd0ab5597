//! The generic table inserter against the real server: composite keys,
//! DO NOTHING, typed errors, CHECK constraints, for every write method.

mod common;

use std::time::Duration;

use batch_core::{BatchError, BatcherSettings};
use batch_postgres::{
    DynRow, OnConflict, Row, TableBatchInserter, TableName, TableSpec, WriteMethod,
};
use common::{METHODS, client, connector, count, drop_table, table};
use postgres::types::ToSql;

fn create(t: &TableName) {
    let columns = "tenant TEXT NOT NULL, seq BIGINT NOT NULL, \"Weird \"\"col\" TEXT, \
                   amount INTEGER CHECK (amount >= 0), PRIMARY KEY (tenant, seq)";
    let sql = format!("CREATE TABLE {} ({columns})", t.quoted());
    client().batch_execute(&sql).expect("create");
}

fn row(tenant: &str, seq: i64, text: Option<&str>, amount: i32) -> DynRow {
    vec![
        Box::new(tenant.to_owned()),
        Box::new(seq),
        Box::new(text.map(str::to_owned)),
        Box::new(amount),
    ]
}

/// Tenant `a`, no text, and a `seq` and `amount` of any type (the wrong
/// one for their columns).
fn typed_row(
    seq: impl ToSql + Send + Sync + 'static,
    amount: impl ToSql + Send + Sync + 'static,
) -> DynRow {
    vec![
        Box::new("a".to_owned()),
        Box::new(seq),
        Box::new(None::<String>),
        Box::new(amount),
    ]
}

/// Runs `test` once per write method (printed: a failure's output names
/// it), on a new table named by `prefix` and an inserter writing to it
/// with `on_conflict`; drops the table afterwards.
fn each_method(
    prefix: &str,
    batch_size: usize,
    on_conflict: OnConflict,
    test: impl Fn(WriteMethod, &TableName, &TableBatchInserter<DynRow>),
) {
    for method in METHODS {
        eprintln!("write method {method:?}");
        let t = table(prefix);
        create(&t);
        let key = ["tenant", "seq"];
        let spec = TableSpec::new(t.clone(), ["tenant", "seq", "Weird \"col", "amount"], key);
        let spec = spec.expect("spec").on_conflict(on_conflict);
        let settings = BatcherSettings::builder().batch_size(batch_size).build();
        let ins =
            TableBatchInserter::with_method(connector(), spec, method, settings.expect("settings"))
                .expect("inserter");
        test(method, &t, &ins);
        drop_table(&mut client(), &t);
    }
}

fn read(t: &TableName) -> Vec<(String, i64, Option<String>, i32)> {
    let sql = format!("SELECT * FROM {} ORDER BY tenant, seq", t.quoted());
    let rows = client().query(&sql, &[]).expect("read");
    rows.iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[test]
fn composite_key_upsert_with_nulls_and_quoted_columns() {
    each_method("gen_upsert", 4, OnConflict::default(), |method, t, ins| {
        for seq in 0..6 {
            ins.add(row("a", seq, (seq % 2 == 0).then_some("x"), 1))
                .expect("add");
        }
        ins.add(row("b", 0, None, 2)).expect("add");
        ins.add(row("a", 1, Some("updated"), 9)).expect("add");
        let report = ins.flush();
        assert!(report.is_complete(), "{method:?}: {report:?}");
        assert_eq!(report.written, 8);
        let rows = read(t);
        assert_eq!(rows.len(), 7);
        assert_eq!(
            rows[1],
            ("a".into(), 1, Some("updated".into()), 9),
            "{method:?}"
        );
        assert_eq!(rows[0], ("a".into(), 0, Some("x".into()), 1));
        assert_eq!(rows[6], ("b".into(), 0, None, 2));
    });
}

#[test]
fn do_nothing_counts_existing_and_repeated_keys_as_conflicts() {
    each_method(
        "gen_nothing",
        10,
        OnConflict::DoNothing,
        |method, t, ins| {
            ins.add(row("a", 1, Some("first"), 1)).expect("add");
            assert_eq!(ins.flush().written, 1);
            ins.add(row("a", 1, Some("again"), 2)).expect("add"); // exists
            ins.add(row("a", 2, Some("kept"), 3)).expect("add");
            ins.add(row("a", 2, Some("dropped"), 4)).expect("add"); // repeated in batch
            let report = ins.flush();
            assert!(report.is_complete());
            assert_eq!((report.written, report.conflicts), (1, 2), "{method:?}");
            let rows = read(t);
            assert_eq!(rows[0].2.as_deref(), Some("first"));
            let wins = "first row of a key wins with DO NOTHING";
            assert_eq!(rows[1].2.as_deref(), Some("kept"), "{wins}");
        },
    );
}

#[test]
fn constraint_and_type_errors_isolate_the_bad_rows() {
    each_method("gen_bad", 30, OnConflict::default(), |method, t, ins| {
        for seq in 0..30 {
            let r = match seq {
                // CHECK violation on the server.
                7 => row("a", seq, None, -5),
                // Wrong Rust type for an INTEGER column: refused when encoding.
                19 => typed_row(seq, "not a number".to_owned()),
                // Wrong type in the key: refused without a round trip.
                23 => typed_row("23".to_owned(), 1_i32),
                _ => row("a", seq, None, 1),
            };
            ins.add(r).expect("add");
        }
        // A row with too few values is refused at once, unsent.
        let short = ins
            .add(vec![Box::new("a".to_owned())])
            .expect_err("1 value for 4 columns");
        match &short.error {
            BatchError::Invalid(reason) => {
                assert!(reason.contains("1 values for 4 columns"), "{reason}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        let report = ins.flush();
        assert_eq!(report.written, 27, "{method:?}");
        assert_eq!(report.failed.len(), 3, "{method:?}: {:?}", report.failed);
        let check = report
            .failed
            .iter()
            .find_map(|f| f.error.sink_error().and_then(|e| e.sqlstate()))
            .expect("one server error");
        assert_eq!(check, "23514");
        assert_eq!(count(&mut client(), t), 27);
    });
}

#[test]
fn a_refused_row_and_a_repeated_key_leave_every_other_row_its_own_values() {
    each_method("gen_mixed", 10, OnConflict::default(), |method, t, ins| {
        ins.add(row("a", 1, Some("one"), 1)).expect("add");
        ins.add(typed_row("not a bigint".to_owned(), 1_i32))
            .expect("add");
        ins.add(row("a", 2, Some("two"), 2)).expect("add");
        ins.add(row("a", 1, Some("one again"), 11)).expect("add");
        ins.add(row("a", 3, Some("three"), 3)).expect("add");
        let report = ins.flush();
        let counted = (report.written, report.conflicts, report.failed.len());
        assert_eq!(counted, (3, 1, 1), "{method:?}: {report:?}");
        assert_eq!(
            read(t),
            [
                ("a".into(), 1, Some("one again".into()), 11),
                ("a".into(), 2, Some("two".into()), 2),
                ("a".into(), 3, Some("three".into()), 3),
            ],
            "{method:?}"
        );
    });
}

/// A user struct as a row: no boxing.
#[derive(Debug)]
struct Reading {
    sensor: String,
    at: i64,
    value: f64,
}

impl Row for Reading {
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.sensor, &self.at, &self.value]
    }
}

#[test]
fn user_struct_rows_and_get_stats_match_the_table() {
    let t = table("gen_struct");
    let columns = "sensor TEXT, at BIGINT, value DOUBLE PRECISION, UNIQUE (sensor, at)";
    let sql = format!("CREATE TABLE {} ({columns})", t.quoted());
    client().batch_execute(&sql).expect("create");
    let spec =
        TableSpec::new(t.clone(), ["sensor", "at", "value"], ["sensor", "at"]).expect("spec");
    let ins = TableBatchInserter::new(connector(), spec, 64).expect("inserter");
    for at in 0..500 {
        let (sensor, value) = (format!("s{}", at % 7), at as f64 / 3.0);
        ins.add(Reading { sensor, at, value }).expect("add");
    }
    let report = ins.close(Duration::from_secs(30));
    assert!(report.is_complete());
    let stats = ins.get_stats();
    assert_eq!(stats["total_added"] as i64, count(&mut client(), &t));
    assert_eq!(stats["total_added"], 500);
    drop_table(&mut client(), &t);
}

//! `PostgreSQLBatchInserter::add_many` and `add_many_async` against the
//! real server: the invalid rows come back by their index, every other
//! row is in the table, in as many statements as `add` would send.

mod common;

use std::time::Duration;

use batch_core::testing::add_many::{assert_refused_as_add, assert_written_as_add};
use batch_core::{BatcherSettings, Stats};
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter, TableName};
use common::{client, connector, count, drop_table, table};

fn inserter(table: &TableName, batch_size: usize) -> PostgreSQLBatchInserter {
    let settings = BatcherSettings::builder()
        .name("pg-add-many")
        .batch_size(batch_size)
        .build()
        .expect("settings");
    let inserter =
        PostgreSQLBatchInserter::with_table(connector(), table.clone(), settings).expect("start");
    inserter.ensure_schema().expect("schema");
    inserter
}

/// Row `i`; the rows at `bad` are invalid (a negative count, or a NUL
/// byte in the id), as `add` would refuse them.
fn row(i: usize, bad: &[usize]) -> DocumentRow {
    let mut row = DocumentRow::new(format!("doc-{i}"), format!("/p/{i}.pdf"), "law", 1000, 3);
    match bad.iter().position(|b| *b == i) {
        Some(0) => row.content_length = -1,
        Some(_) => row.document_id = format!("doc\0{i}"),
        None => {}
    }
    row
}

#[test]
fn add_many_hands_back_the_invalid_rows_by_index_and_writes_the_rest() {
    let t = table("docs_add_many");
    let ins = inserter(&t, 100);
    let bad = [17, 200];
    let back = ins
        .add_many((0..250).map(|i| row(i, &bad)))
        .expect_err("two rows are invalid");
    assert_refused_as_add(&back, &bad, |i| {
        let single = ins.add(row(i, &bad));
        single.expect_err("add refuses it too").error.to_string()
    });
    for (index, failed) in &back.failed {
        assert_eq!(
            failed.item.file_path,
            format!("/p/{index}.pdf"),
            "the row comes back"
        );
    }
    let report = ins.close(Duration::from_secs(30));
    let stats = ins.stats();
    // 100, 100 and 48 rows; two refused by add_many, two by add.
    assert_written_as_add(&report, &Stats::default(), &stats, (248, 3));
    assert_eq!(stats.total_refused, 4);
    let mut c = client();
    assert_eq!(count(&mut c, &t), 248);
    let missing: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM {} WHERE document_id IN ('doc-17', 'doc-200')",
                t.quoted()
            ),
            &[],
        )
        .expect("query")
        .get(0);
    assert_eq!(missing, 0);
    drop_table(&mut c, &t);
}

#[test]
fn add_many_async_writes_from_a_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let t = table("docs_add_many_async");
    let ins = inserter(&t, 10);
    let back = runtime
        .block_on(ins.add_many_async((0..25).map(|i| row(i, &[4]))))
        .expect_err("one row is invalid");
    assert_eq!(back.indexes(), [4]);
    let report = runtime.block_on(ins.close_async());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 24);
    let mut c = client();
    assert_eq!(count(&mut c, &t), 24);
    drop_table(&mut c, &t);
}

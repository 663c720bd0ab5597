//! `WriteMethod::CopyInsert` against the real server: binary COPY straight
//! into the table, insert-only. Rows land; rows whose key is already stored
//! come back as conflicts, found by bisecting, and stay as they were.

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter, WriteMethod};
use common::{client, connector, count, drop_table, table};

fn inserter(t: &batch_postgres::TableName, batch_size: usize) -> PostgreSQLBatchInserter {
    let settings = BatcherSettings::builder()
        .name("pg-copy-insert")
        .batch_size(batch_size)
        .build()
        .expect("settings");
    let ins = PostgreSQLBatchInserter::with_method(
        connector(),
        t.clone(),
        WriteMethod::CopyInsert,
        settings,
    )
    .expect("inserter");
    ins.ensure_schema().expect("schema");
    ins
}

#[test]
fn copies_every_row() {
    let t = table("docs_copy_insert");
    let ins = inserter(&t, 1000);
    for i in 0..5000 {
        ins.add(DocumentRow::new(format!("d{i}"), "/p", "c", i, 1))
            .expect("add");
    }
    let report = ins.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed.first());
    let stats = ins.stats();
    assert_eq!(
        (stats.total_added, stats.total_requests),
        (5000, 5),
        "{stats:?}"
    );
    assert_eq!(count(&mut client(), &t), 5000);
    drop_table(&mut client(), &t);
}

#[test]
fn stored_keys_are_conflicts_found_by_bisecting_and_left_unchanged() {
    let t = table("docs_copy_conflicts");
    let first = inserter(&t, 100);
    for i in (0..100).step_by(10) {
        first
            .add(DocumentRow::new(format!("d{i}"), "/old", "c", 1, 1))
            .expect("add");
    }
    assert_eq!(first.close(Duration::from_secs(30)).written, 10);

    let ins = inserter(&t, 100);
    for i in 0..100 {
        ins.add(DocumentRow::new(format!("d{i}"), "/new", "c", 1, 1))
            .expect("add");
    }
    let report = ins.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed.first());
    let stats = ins.stats();
    assert_eq!(
        (stats.total_added, stats.total_conflicts),
        (90, 10),
        "{stats:?}"
    );
    assert_eq!(
        stats.total_fallbacks, 1,
        "the batch was bisected: {stats:?}"
    );
    assert_eq!(count(&mut client(), &t), 100);
    let old: i64 = client()
        .query_one(
            &format!(
                "SELECT count(*) FROM {} WHERE file_path = '/old'",
                t.quoted()
            ),
            &[],
        )
        .expect("count old")
        .get(0);
    assert_eq!(old, 10, "insert-only: stored rows are not updated");
    drop_table(&mut client(), &t);
}

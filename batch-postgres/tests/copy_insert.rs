//! `WriteMethod::CopyInsert` against the real server: binary COPY straight
//! into the table, insert-only. Rows land; rows whose key is already stored
//! come back as conflicts, found by bisecting, and stay as they were.

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter, TableName, WriteMethod};
use common::{client, connector, count, drop_table, table};

/// A CopyInsert inserter into `t` that has added `ids` rows `d{i}` with
/// `path`.
fn inserter_with(
    t: &TableName,
    batch_size: usize,
    ids: impl IntoIterator<Item = i64>,
    path: &str,
) -> PostgreSQLBatchInserter {
    let settings = BatcherSettings::builder().name("pg-copy-insert");
    let settings = settings.batch_size(batch_size).build().expect("settings");
    let method = WriteMethod::CopyInsert;
    let ins = PostgreSQLBatchInserter::with_method(connector(), t.clone(), method, settings)
        .expect("inserter");
    ins.ensure_schema().expect("schema");
    for i in ids {
        let row = DocumentRow::new(format!("d{i}"), path, "c", i, 1);
        ins.add(row).expect("add");
    }
    ins
}

#[test]
fn copies_every_row() {
    let t = table("docs_copy_insert");
    let ins = inserter_with(&t, 1000, 0..5000, "/p");
    let report = ins.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed.first());
    let stats = ins.stats();
    let counted = (stats.total_added, stats.total_requests);
    assert_eq!(counted, (5000, 5), "added, requests: {stats:?}");
    assert_eq!(count(&mut client(), &t), 5000);
    drop_table(&mut client(), &t);
}

#[test]
fn stored_keys_are_conflicts_found_by_bisecting_and_left_unchanged() {
    let t = table("docs_copy_conflicts");
    let first = inserter_with(&t, 100, (0..100).step_by(10), "/old");
    assert_eq!(first.close(Duration::from_secs(30)).written, 10);

    let ins = inserter_with(&t, 100, 0..100, "/new");
    let report = ins.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed.first());
    let stats = ins.stats();
    let counted = (stats.total_added, stats.total_conflicts);
    assert_eq!(counted, (90, 10), "added, conflicts: {stats:?}");
    let bisected = "the batch was bisected";
    assert_eq!(stats.total_fallbacks, 1, "{bisected}: {stats:?}");
    assert_eq!(count(&mut client(), &t), 100);
    let sql = format!(
        "SELECT count(*) FROM {} WHERE file_path = '/old'",
        t.quoted()
    );
    let old: i64 = client().query_one(&sql, &[]).expect("count old").get(0);
    assert_eq!(old, 10, "insert-only: stored rows are not updated");
    drop_table(&mut client(), &t);
}

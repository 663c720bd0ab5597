//! Several batches in flight (`max_in_flight` 4) against the real server:
//! every row arrives, and rows updating the same document land in the
//! order they were added although their batches run on four connections.

mod common;

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{DocumentRow, PostgreSQLBatchInserter};
use common::{client, connector, count, drop_table, table};

const DOCS: i64 = 100;
const VERSIONS: i64 = 20;

#[test]
fn four_in_flight_write_everything_and_keep_each_documents_order() {
    let t = table("docs_in_flight");
    let settings = BatcherSettings::builder()
        .name("pg-in-flight")
        .batch_size(50)
        .max_in_flight(4)
        .build()
        .expect("settings");
    let ins =
        PostgreSQLBatchInserter::with_table(connector(), t.clone(), settings).expect("inserter");
    ins.ensure_schema().expect("schema");
    // Version-major: every document's next version follows two batches
    // later, well inside the four in flight.
    for version in 0..VERSIONS {
        for doc in 0..DOCS {
            ins.add(DocumentRow::new(
                format!("doc-{doc}"),
                format!("/v{version}"),
                "c",
                1,
                version,
            ))
            .expect("add");
        }
    }
    let report = ins.close(Duration::from_secs(60));
    assert!(report.is_complete(), "{:?}", report.failed.first());
    let stats = ins.stats();
    assert_eq!(
        stats.total_batches,
        (DOCS * VERSIONS / 50) as u64,
        "{stats:?}"
    );
    assert_eq!(
        stats.total_added + stats.total_conflicts,
        (DOCS * VERSIONS) as u64,
        "{stats:?}"
    );
    assert_eq!(count(&mut client(), &t), DOCS);
    let stale: Vec<(String, i64)> = client()
        .query(
            &format!(
                "SELECT document_id, legal_terms_count FROM {} WHERE legal_terms_count <> $1 \
                 OR file_path <> $2",
                t.quoted()
            ),
            &[&(VERSIONS - 1), &format!("/v{}", VERSIONS - 1)],
        )
        .expect("read back")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        stale.is_empty(),
        "an older version overtook a newer one: {stale:?}"
    );
    drop_table(&mut client(), &t);
}

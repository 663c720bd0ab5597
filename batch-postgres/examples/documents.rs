//! Batch documents into PostgreSQL the UDS3 way, and see a bad row come back.
//!
//! `cargo xtask services up postgres`, then
//! `cargo run -p batch-postgres --example documents`
//! (`UDS3_POSTGRES_URL` overrides the default server).

use std::time::Duration;

use batch_core::BatcherSettings;
use batch_postgres::{Connector, DocumentRow, PostgreSQLBatchInserter, TableName};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("UDS3_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:25432/postgres".to_owned());
    let connector = Connector::from_url(&url)?;
    let table = TableName::new("uds3_example_documents")?;
    let settings = BatcherSettings::builder()
        .name("example")
        .batch_size(100)
        .build()?;
    let inserter = PostgreSQLBatchInserter::with_table(connector.clone(), table.clone(), settings)?;
    inserter.ensure_schema()?;

    for i in 0..250 {
        inserter
            .add(
                DocumentRow::new(
                    format!("doc-{i}"),
                    format!("/docs/{i}.pdf"),
                    "law",
                    1200 + i,
                    7,
                )
                .quality_score(0.9),
            )
            .map_err(|f| f.error)?;
    }
    // Refused before the server: NUL bytes cannot be stored in PostgreSQL text.
    if let Err(refused) = inserter.add(DocumentRow::new("bad\0id", "/x", "law", 1, 1)) {
        println!("refused at add: {}", refused.error);
    }

    let report = inserter.close(Duration::from_secs(30));
    for failed in &report.failed {
        println!(
            "not written: {} ({})",
            failed.item.document_id, failed.error
        );
    }
    println!("written {}, conflicts {}", report.written, report.conflicts);
    println!("get_stats: {:?}", inserter.get_stats());

    let mut client = connector.connect()?;
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {}", table.quoted()), &[])?
        .get(0);
    println!("rows in {}: {rows}", table);
    client.batch_execute(&format!("DROP TABLE {}", table.quoted()))?;
    Ok(())
}

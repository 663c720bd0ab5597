//! The batcher's metrics in Prometheus' text format: a PostgreSQL
//! inserter with two batches in flight writes 5,000 rows while a Prometheus
//! recorder (the one an application would serve on `/metrics`) collects
//! what batch-core records through the `metrics` facade.
//!
//! ```sh
//! cargo xtask services up
//! cargo run -p uds3-batch --features postgres,metrics --example metrics
//! ```
//!
//! Set `UDS3_POSTGRES_URL` to use another server.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use uds3_batch::BatcherSettings;
use uds3_batch::postgres::{Connector, DocumentRow, PostgreSQLBatchInserter, TableName};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The application's exporter: installed once, before any batcher.
    let prometheus = PrometheusBuilder::new().install_recorder()?;

    let url = std::env::var("UDS3_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:25432/postgres".to_owned());
    let table = TableName::new(format!("metrics_example_{}", std::process::id()))?;
    let settings = BatcherSettings::builder()
        .name("documents")
        .batch_size(500)
        .max_in_flight(2)
        .build()?;
    let connector = Connector::from_url(&url)?;
    let inserter = PostgreSQLBatchInserter::with_table(connector.clone(), table.clone(), settings)?;
    inserter.ensure_schema()?;
    for i in 0..5_000 {
        inserter.add(DocumentRow::new(
            format!("doc-{i}"),
            "/docs",
            "law",
            1200,
            7,
        ))?;
    }
    let report = inserter.close(Duration::from_secs(60));
    println!("written {}, failed {}", report.written, report.failed.len());

    // What a scrape of /metrics would return, the batcher's lines only.
    for line in prometheus.render().lines() {
        if line.contains("uds3_batch") && !line.starts_with('#') {
            println!("{line}");
        }
    }
    connector
        .connect()?
        .batch_execute(&format!("DROP TABLE {}", table.quoted()))?;
    Ok(())
}

//! Rows/s of the three write methods on the real PostgreSQL of
//! `cargo xtask services` (fails with the `services up` message if it is
//! down). Each iteration writes one batch of new documents through the sink,
//! so every row is a real insert and commit.
//!
//! `cargo bench -p batch-postgres --bench write_methods`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use batch_core::{ItemOutcome, Sink};
use batch_postgres::{
    Connector, DocumentRow, TableName, TableSink, WriteMethod, create_documents_table,
    documents_spec,
};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use test_support::test_servers::{Service, require};

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn rows(n: usize) -> Vec<DocumentRow> {
    (0..n)
        .map(|_| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            DocumentRow::new(
                format!("bench-doc-{id}"),
                format!("/docs/{id}.pdf"),
                "law",
                12_000,
                17,
            )
            .quality_score(0.75)
        })
        .collect()
}

fn write_methods(c: &mut Criterion) {
    let url = require(Service::Postgres);
    let connector = Connector::from_url(&url).expect("valid URL");
    let table =
        TableName::new(format!("bench_documents_{}", std::process::id())).expect("valid name");
    let mut admin = connector.connect().expect("connect");
    admin
        .batch_execute(&create_documents_table(&table))
        .expect("create table");

    let mut group = c.benchmark_group("postgres_write");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let cases = [
        (WriteMethod::PerRow, 100),
        (WriteMethod::Unnest, 100),
        (WriteMethod::Copy, 100),
        (WriteMethod::PerRow, 1000),
        (WriteMethod::Unnest, 1000),
        (WriteMethod::Copy, 1000),
    ];
    for (method, batch) in cases {
        let spec = documents_spec(table.clone()).expect("spec");
        let mut sink: TableSink<DocumentRow> =
            TableSink::new(connector.clone(), spec).with_method(method);
        sink.connect().expect("connect");
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("{method:?}"), batch),
            &batch,
            |b, &n| {
                b.iter_batched(
                    || rows(n),
                    |batch| {
                        let outcomes = sink.write_batch(&batch).expect("batch written");
                        assert!(outcomes.iter().all(|o| matches!(o, ItemOutcome::Written)));
                    },
                    BatchSize::PerIteration,
                );
            },
        );
        admin
            .batch_execute(&format!("TRUNCATE {}", table.quoted()))
            .expect("truncate");
    }
    group.finish();
    admin
        .batch_execute(&format!("DROP TABLE {}", table.quoted()))
        .expect("drop");
}

criterion_group!(benches, write_methods);
criterion_main!(benches);

//! Measures documents per second: one `PUT` per document (UDS3's unbatched
//! path) against `_bulk_docs` through `CouchDBBatchInserter`.
//!
//! ```text
//! cargo xtask services up couch
//! cargo run --release -p batch-couch --example put_vs_bulk
//! ```
//! Reads the server URL from `UDS3_COUCHDB_URL` (default
//! `http://127.0.0.1:25984`). Each run writes to fresh databases and
//! deletes them afterwards.

use std::time::{Duration, Instant};

use batch_couch::{CouchDBBatchInserter, CouchDatabase, CouchDoc, DEFAULT_MAX_DOC_BYTES};
use serde_json::{Value, json};

fn document(i: usize) -> Value {
    json!({
        "type": "chunk",
        "document_id": format!("doc-{}", i / 10),
        "chunk_index": i % 10,
        "content": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(8),
        "metadata": {"source": "bench", "tags": ["a", "b", "c"]},
    })
}

fn fresh_db(url: &str, label: &str) -> Result<CouchDatabase, Box<dyn std::error::Error>> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let db = CouchDatabase::new(url, &format!("bench_{label}_{nanos}"))?;
    db.create_if_missing()?;
    Ok(db)
}

fn per_doc_put(url: &str, n: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let db = fresh_db(url, "put")?;
    let docs: Vec<CouchDoc> = (0..n)
        .map(|i| CouchDoc::new(document(i), Some(format!("d{i:06}")), DEFAULT_MAX_DOC_BYTES))
        .collect::<Result<_, _>>()
        .map_err(|e| e.reason)?;
    let started = Instant::now();
    for doc in &docs {
        db.put(doc)?;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert_eq!(db.doc_count()?, n as u64);
    db.delete()?;
    Ok(rate)
}

fn bulk(url: &str, n: usize, batch_size: usize) -> Result<f64, Box<dyn std::error::Error>> {
    let db = fresh_db(url, "bulk")?;
    let inserter = CouchDBBatchInserter::new(db.clone(), batch_size)?;
    let started = Instant::now();
    for i in 0..n {
        inserter
            .add(document(i), Some(&format!("d{i:06}")))
            .map_err(|f| f.error.to_string())?;
    }
    let report = inserter.close(Duration::from_secs(300));
    let rate = n as f64 / started.elapsed().as_secs_f64();
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(db.doc_count()?, n as u64);
    db.delete()?;
    Ok(rate)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("UDS3_COUCHDB_URL").unwrap_or_else(|_| "http://127.0.0.1:25984".into());
    println!("server {url}");
    println!(
        "{:>6} {:>14} {:>24}",
        "docs", "PUT docs/s", "_bulk_docs docs/s (1 req)"
    );
    for n in [10, 100, 1000] {
        let put = per_doc_put(&url, n)?;
        let bulk_rate = bulk(&url, n, n)?;
        println!("{n:>6} {put:>14.0} {bulk_rate:>24.0}");
    }
    println!("\n5000 docs through the inserter:");
    println!("{:>10} {:>12}", "batch size", "docs/s");
    for batch_size in [10, 100, 1000] {
        let rate = bulk(&url, 5000, batch_size)?;
        println!("{batch_size:>10} {rate:>12.0}");
    }
    Ok(())
}

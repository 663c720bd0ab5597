//! Records per second against the real server, one record per request vs
//! batches of 10, 100 and 1000, in `/add` mode with base64 and JSON-float
//! embeddings (384 dimensions, four metadata keys).
//!
//! ```text
//! cargo xtask services up chroma
//! cargo bench -p batch-chroma --bench throughput
//! ```
//! A plain timing loop, not criterion: one run per configuration is
//! already seconds long against a real server.

use std::time::{Duration, Instant};

use batch_chroma::{
    ChromaBatchInserter, ChromaClient, ChromaSink, EmbeddingEncoding, WriteMode, metadata,
};
use batch_core::BatcherSettings;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("UDS3_CHROMA_URL").unwrap_or_else(|_| "http://127.0.0.1:28000".to_owned());
    let client = ChromaClient::new(&url)?;
    client.heartbeat()?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    println!("batch_size encoding mode records seconds records/s");
    for (batch_size, records) in [(1, 200), (10, 1000), (100, 5000), (1000, 10000)] {
        for encoding in [EmbeddingEncoding::Base64, EmbeddingEncoding::JsonFloats] {
            for mode in [WriteMode::Add, WriteMode::Upsert] {
                let name = format!("bench-{stamp}-{batch_size}-{encoding:?}-{mode:?}");
                let collection = client
                    .get_or_create_collection(&name, &metadata([("hnsw:space", "l2".into())]))?;
                let sink = ChromaSink::new(collection.clone(), mode)?.with_encoding(encoding);
                let settings = BatcherSettings::builder().batch_size(batch_size).build()?;
                let inserter = ChromaBatchInserter::with_sink(sink, settings)?;
                let vectors: Vec<Vec<f32>> = (0..records)
                    .map(|i| {
                        (0..384)
                            .map(|j| ((i * 31 + j) % 997) as f32 / 997.0)
                            .collect()
                    })
                    .collect();
                let started = Instant::now();
                for (i, v) in vectors.into_iter().enumerate() {
                    let meta = metadata([
                        ("doc_id", format!("doc-{}", i / 20).into()),
                        ("chunk_index", (i as i64).into()),
                        ("score", 0.5.into()),
                        ("ok", true.into()),
                    ]);
                    inserter
                        .add(format!("r{i}"), v, meta)
                        .map_err(|f| f.error)?;
                }
                let report = inserter.close(Duration::from_secs(600));
                let secs = started.elapsed().as_secs_f64();
                assert!(report.is_complete(), "failed: {:?}", report.failed.first());
                assert_eq!(collection.count()?, records as u64);
                println!(
                    "{batch_size} {encoding:?} {mode:?} {records} {secs:.2} {:.0}",
                    records as f64 / secs
                );
                client.delete_collection(&name)?;
            }
        }
    }
    Ok(())
}

//! Writes 1,000 chunks of 384 dimensions to a Chroma collection in batches
//! of `CHROMA_BATCH_INSERT_SIZE` (default 100) and prints UDS3's stats.
//!
//! ```text
//! cargo xtask services up chroma
//! cargo run -p batch-chroma --example insert_chunks
//! ```
//! The server is `UDS3_CHROMA_URL` (default `http://127.0.0.1:28000`).

use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaClient, metadata};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url =
        std::env::var("UDS3_CHROMA_URL").unwrap_or_else(|_| "http://127.0.0.1:28000".to_owned());
    let client = ChromaClient::new(&url)?;
    let collection = client.get_or_create_collection(
        "example-chunks",
        &metadata([("hnsw:space", "cosine".into())]),
    )?;
    let inserter = ChromaBatchInserter::from_env(collection.clone())?;
    for i in 0..1000_u32 {
        let vector: Vec<f32> = (0..384)
            .map(|j| ((i * 31 + j) % 97) as f32 / 97.0)
            .collect();
        let meta = metadata([
            ("doc_id", format!("doc-{}", i / 20).into()),
            ("chunk_index", i.into()),
        ]);
        if let Err(refused) = inserter.add_with_document(
            format!("chunk-{i}"),
            vector,
            meta,
            format!("chunk text {i}"),
        ) {
            eprintln!("refused {}: {}", refused.item.id, refused.error);
        }
    }
    let report = inserter.close(Duration::from_secs(60));
    for failed in &report.failed {
        eprintln!("not written {}: {}", failed.item.id, failed.error);
    }
    println!(
        "written {}, already there {}, failed {}; collection holds {}",
        report.written,
        report.conflicts,
        report.failed.len(),
        collection.count()?
    );
    println!("{:?}", inserter.get_stats());
    Ok(())
}

//! Documents, chunks and HAS_CHUNK relationships through Neo4jBatchCreator.
//!
//! `cargo xtask services up neo4j && cargo run -p batch-neo4j --example create_relationships`
//! (reads UDS3_NEO4J_URI, UDS3_NEO4J_USER, UDS3_NEO4J_PASSWORD; defaults
//! are the local test server's).

use std::time::Duration;

use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let graph = Neo4jConfig::new(
        &var("UDS3_NEO4J_URI", "bolt://127.0.0.1:27687"),
        var("UDS3_NEO4J_USER", "neo4j"),
        var("UDS3_NEO4J_PASSWORD", "uds3-batch-dev"),
    )?
    .labels("ExampleDocument", "ExampleChunk")?;
    let creator = Neo4jBatchCreator::new(graph, 1000)?;
    creator.ensure_indexes()?;

    for d in 0..5 {
        let doc_id = format!("doc_{d}");
        creator
            .upsert_node(
                "ExampleDocument",
                doc_id.clone(),
                [("title", format!("Document {d}").into())],
            )
            .map_err(|f| f.error)?;
        for c in 0..500 {
            let chunk_id = format!("chunk_{d}_{c}");
            creator
                .upsert_node("ExampleChunk", chunk_id.clone(), [("order", c.into())])
                .map_err(|f| f.error)?;
            creator
                .add_relationship(doc_id.clone(), chunk_id, "HAS_CHUNK", [("order", c.into())])
                .map_err(|f| f.error)?;
        }
    }
    // A relationship to a chunk that does not exist comes back, not lost.
    creator
        .add_relationship(
            "doc_0",
            "chunk_missing",
            "HAS_CHUNK",
            [("order", (-1).into())],
        )
        .map_err(|f| f.error)?;

    let report = creator.close(Duration::from_secs(60));
    for failed in &report.failed {
        println!("handed back: {}", failed.error);
    }
    println!(
        "created {}, already present {}, failed {}",
        report.written,
        report.conflicts,
        report.failed.len()
    );
    println!("{:?}", creator.get_stats());
    Ok(())
}

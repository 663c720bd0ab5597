//! The UDS3 ingestion pipeline end to end, on a generated corpus of
//! legal-style documents cut into chunks with deterministic 384-dimension
//! pseudo embeddings:
//! - one row per document in PostgreSQL (`uds3_ingest_documents`),
//! - one document per document in CouchDB (`uds3_ingest`),
//! - one vector per chunk in Chroma (`uds3-ingest`),
//! - `Document` and `Chunk` nodes with `HAS_CHUNK` and `NEXT_CHUNK`
//!   relationships in the graph,
//!
//! with all four batchers shared by worker threads, a progress bar, and a
//! per-store summary. Run it again: everything is already there, so the
//! second run counts conflicts and writes nothing new.
//!
//! ```sh
//! cargo xtask services up
//! cargo run --release -p uds3-batch --features full --example ingest -- --docs 500 --threads 4
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_core::testing::services::Endpoints;
use uds3_batch::chroma::{ChromaBatchInserter, ChromaClient, MetadataValue, metadata};
use uds3_batch::couch::{CouchDBBatchInserter, CouchDatabase};
use uds3_batch::neo4j::{Neo4jBatchCreator, Neo4jConfig};
use uds3_batch::postgres::{Connector, PostgreSQLBatchInserter, TableName};
use uds3_batch::{BatcherSettings, Stats};

const DIM: usize = 384;

/// The generated corpus the benchmark uses too.
#[path = "bench/corpus.rs"]
#[allow(dead_code)]
mod corpus;

struct Stores {
    postgres: PostgreSQLBatchInserter,
    couch: CouchDBBatchInserter,
    chroma: ChromaBatchInserter,
    graph: Neo4jBatchCreator,
}

fn chunk_text(doc: u64, chunk: u64) -> String {
    corpus::text(doc * 1000 + chunk, 40)
}

/// Everything one document brings to the four stores.
fn ingest(stores: &Stores, doc: u64, chunks: u64) -> Result<(), Box<dyn std::error::Error>> {
    let doc_id = format!("doc-{doc:06}");
    let texts: Vec<String> = (0..chunks).map(|c| chunk_text(doc, c)).collect();
    let length: usize = texts.iter().map(String::len).sum();
    let terms = texts
        .iter()
        .map(|t| t.matches("Urteil").count())
        .sum::<usize>();
    let court = ["BGH", "BVerwG", "BAG", "BFH"][(doc % 4) as usize];

    stores.postgres.add(
        doc_id.clone(),
        format!("/corpus/{court}/{doc_id}.txt"),
        "judgment",
        length as i64,
        terms as i64,
        None,
        Some((corpus::Rng::new(doc).next() % 100) as f64 / 100.0),
        None,
    )?;
    stores.couch.add(
        serde_json::json!({"court": court, "chunks": chunks, "text": texts.join("\n")}),
        Some(&doc_id),
    )?;
    stores
        .graph
        .upsert_node("Document", doc_id.clone(), [("court", court.into())])?;
    for (c, text) in texts.iter().enumerate() {
        let chunk_id = format!("{doc_id}-chunk-{c:03}");
        stores.chroma.add_with_document(
            chunk_id.clone(),
            corpus::embedding(doc * 1000 + c as u64, DIM),
            metadata([
                ("doc_id", MetadataValue::from(doc_id.as_str())),
                ("chunk_index", MetadataValue::from(c as i64)),
                ("court", MetadataValue::from(court)),
            ]),
            text.clone(),
        )?;
        stores
            .graph
            .upsert_node("Chunk", chunk_id.clone(), [("index", (c as i64).into())])?;
        stores.graph.add_relationship(
            doc_id.clone(),
            chunk_id.clone(),
            "HAS_CHUNK",
            [("order", (c as i64).into())],
        )?;
        if c > 0 {
            let previous = format!("{doc_id}-chunk-{:03}", c - 1);
            stores.graph.add_relationship_between(
                ("Chunk", previous.as_str()),
                ("Chunk", chunk_id.as_str()),
                "NEXT_CHUNK",
                [],
            )?;
        }
    }
    Ok(())
}

fn arg(name: &str, default: u64) -> Result<u64, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a whole number")),
        None => Ok(default),
    }
}

fn summary(store: &str, stats: Stats, failed: usize) {
    println!(
        "{store:<10} written {:>6}  conflicts {:>6}  failed {:>3}  batches {:>4}  requests {:>4}  retries {:>3}",
        stats.total_added,
        stats.total_conflicts,
        failed,
        stats.total_batches,
        stats.total_requests,
        stats.total_retries
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let docs = arg("--docs", 200)?;
    let chunks = arg("--chunks", 8)?;
    let threads = arg("--threads", 4)?.max(1);
    let ep = Endpoints::try_from_env()?;

    let settings = |name: &str, size: usize| {
        BatcherSettings::builder()
            .name(name)
            .batch_size(size)
            .build()
    };
    let postgres = PostgreSQLBatchInserter::with_table(
        Connector::from_url(&ep.postgres_url)?,
        TableName::new("uds3_ingest_documents")?,
        settings("postgres", 100)?,
    )?;
    postgres.ensure_schema()?;
    let couch_db = CouchDatabase::new(&ep.couchdb_url, "uds3_ingest")?;
    couch_db.create_if_missing()?;
    let couch = CouchDBBatchInserter::new(couch_db, 100)?;
    let collection = ChromaClient::new(&ep.chroma_url).get_or_create_collection(
        "uds3-ingest",
        &metadata([("hnsw:space", MetadataValue::from("l2"))]),
    )?;
    let chroma = ChromaBatchInserter::new(collection, 100)?;
    let graph = Neo4jBatchCreator::with_settings(
        Neo4jConfig::new(
            &ep.neo4j_uri,
            ep.neo4j_user.as_str(),
            ep.neo4j_password.as_str(),
        )?
        .labels("Document", "Chunk")?,
        settings("neo4j", 1000)?,
    )?;
    graph.ensure_indexes()?;
    let stores = Arc::new(Stores {
        postgres,
        couch,
        chroma,
        graph,
    });

    let bar = indicatif::ProgressBar::new(docs);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} documents ({per_sec})",
        )?
        .progress_chars("=> "),
    );
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<(), String> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (stores, bar) = (Arc::clone(&stores), bar.clone());
                scope.spawn(move || -> Result<(), String> {
                    for doc in (t..docs).step_by(threads as usize) {
                        ingest(&stores, doc, chunks).map_err(|e| e.to_string())?;
                        bar.inc(1);
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| "worker panicked".to_owned())?)
    })?;
    let timeout = Duration::from_secs(120);
    let failed = [
        stores.postgres.close(timeout).failed.len(),
        stores.couch.close(timeout).failed.len(),
        stores.chroma.close(timeout).failed.len(),
        stores.graph.close(timeout).failed.len(),
    ];
    bar.finish();
    println!(
        "{docs} documents, {} chunks, {threads} threads, {:.1} s",
        docs * chunks,
        started.elapsed().as_secs_f64()
    );
    summary("postgres", stores.postgres.stats(), failed[0]);
    summary("couchdb", stores.couch.stats(), failed[1]);
    summary("chroma", stores.chroma.stats(), failed[2]);
    summary("graph", stores.graph.stats(), failed[3]);
    if failed.iter().sum::<usize>() > 0 {
        return Err("some items were not written (see above)".into());
    }
    Ok(())
}

//! uds3-batch: fast, lossless bulk writes to ChromaDB, Neo4j, PostgreSQL
//! and CouchDB, the Rust successor of UDS3 v2.2's batch operations.
//!
//! This facade re-exports [`batch_core`] (the engine: [`Batcher`],
//! [`BatcherSettings`], [`Stats`], the ENV helpers) and, behind one
//! feature each, the backends:
//!
//! | feature | module | UDS3 v2.2 class |
//! |---|---|---|
//! | `chroma` | [`chroma`] (batch-chroma) | `ChromaBatchInserter` |
//! | `neo4j` | [`neo4j`] (batch-neo4j) | `Neo4jBatchCreator` |
//! | `postgres` | [`postgres`] (batch-postgres) | `PostgreSQLBatchInserter` |
//! | `couch` | [`couch`] (batch-couch) | `CouchDBBatchInserter` |
//! | `full` | all four, and [`ParallelBatchReader`] and [`DocumentIngest`] (one document to all four stores, a verdict per document, verify and repair) | UDS3 v2.3's `ParallelBatchReader` |
//!
//! A program that needs one backend can also depend on its crate alone.
//!
//! Every item added ends up written, counted as a conflict (already
//! present), or handed back with its error in the [`FlushReport`] of the
//! next `flush()` / `close()`: nothing is dropped silently. `Drop` flushes
//! (UDS3 v2.2's context manager) and never waits longer than the settings'
//! close timeout.
//!
//! # ENV configuration (UDS3 v2.2's variables, read when asked)
//! ```
//! // ENABLE_CHROMA_BATCH_INSERT (false), CHROMA_BATCH_INSERT_SIZE (100, 1-1000), ...
//! match uds3_batch::should_use_chroma_batch_insert() {
//!     Ok(true) => println!("batch size {}", uds3_batch::get_chroma_batch_size().unwrap_or(100)),
//!     Ok(false) => println!("per-item writes"),
//!     Err(bad) => eprintln!("{bad}"), // names the variable, the value and the allowed range
//! }
//! ```
//!
//! # Quick Start: ChromaDB (feature `chroma`)
//! ```no_run
//! # #[cfg(feature = "chroma")] {
//! use uds3_batch::chroma::{ChromaBatchInserter, ChromaClient, ChromaRecord, metadata};
//!
//! let client = ChromaClient::new("http://127.0.0.1:28000")?;
//! let collection = client.get_or_create_collection("chunks", &metadata([("hnsw:space", "l2".into())]))?;
//! let inserter = ChromaBatchInserter::new(collection, 100)?;
//! inserter.add("summary-1", vec![0.5; 384], metadata([("doc_id", "doc-1".into())]))?; // one record
//! // A document's 250 chunks in one call: one lock (and under a durable
//! // buffer one fsync) for all of them; a bad one comes back by its index.
//! inserter.add_many((0..250).map(|i| {
//!     ChromaRecord::new(format!("doc-1#{i}"), vec![0.5; 384], metadata([("chunk_index", i.into())]))
//! }))?;
//! let report = inserter.close(std::time::Duration::from_secs(30));
//! assert!(report.is_complete());
//! println!("{:?}", inserter.get_stats()); // {"total_added": 251, "total_batches": 3, ...}
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Quick Start: Neo4j (feature `neo4j`)
//! ```no_run
//! # #[cfg(feature = "neo4j")] {
//! use uds3_batch::neo4j::{Neo4jBatchCreator, Neo4jConfig};
//!
//! let graph = Neo4jConfig::new("bolt://127.0.0.1:27687", "neo4j", "uds3-batch-dev")?.labels("Document", "Chunk")?;
//! let creator = Neo4jBatchCreator::new(graph, 1000)?;
//! creator.ensure_indexes()?;
//! creator.upsert_node("Document", "doc_1", [("title", "Urteil".into())])?;
//! // The document's 12 chunks and their HAS_CHUNK relationships, many at a time.
//! creator.upsert_nodes("Chunk", (0..12).map(|i| (format!("chunk_1_{i}"), [("index", i.into())])))?;
//! creator.add_relationships((0..12).map(|i| ("doc_1", format!("chunk_1_{i}"), "HAS_CHUNK", [("order", i.into())])))?;
//! creator.add_relationship("doc_1", "chunk_1_0", "MENTIONS", [])?; // one, no properties
//! let report = creator.flush();
//! println!("{} failed; {:?}", report.failed.len(), creator.get_stats()); // {"total_created": 26, ...}
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Quick Start: PostgreSQL (feature `postgres`)
//! ```no_run
//! # #[cfg(feature = "postgres")] {
//! use uds3_batch::postgres::{Connector, DocumentRow, PostgreSQLBatchInserter};
//!
//! let inserter = PostgreSQLBatchInserter::new(Connector::from_url("postgres://postgres@127.0.0.1:25432/postgres")?, 100)?;
//! inserter.ensure_schema()?;
//! for i in 0..250 {
//!     let row = DocumentRow::new(format!("doc-{i}"), format!("/docs/{i}.pdf"), "law", 1200, 7);
//!     inserter.add(row.quality_score(0.9))?;
//! }
//! let report = inserter.close(std::time::Duration::from_secs(30));
//! for failed in &report.failed {
//!     eprintln!("{} not written: {}", failed.item.document_id, failed.error); // with its SQLSTATE
//! }
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Quick Start: CouchDB (feature `couch`)
//! ```no_run
//! # #[cfg(feature = "couch")] {
//! use uds3_batch::couch::serde_json::json; // re-exported: no serde_json dependency needed
//! use uds3_batch::couch::{CouchDBBatchInserter, CouchDatabase};
//!
//! let db = CouchDatabase::new("http://127.0.0.1:25984", "articles")?;
//! db.create_if_missing()?;
//! let inserter = CouchDBBatchInserter::new(db, 100)?;
//! for i in 0..250 {
//!     inserter.add(json!({"title": "UDS3", "n": i}), Some(&format!("article-{i}")))?;
//! }
//! let report = inserter.close(std::time::Duration::from_secs(30));
//! println!("{} failed; {:?}", report.failed.len(), inserter.get_stats()); // total_conflicts too
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Quick Start: a tokio service (features `postgres`, `chroma`)
//! Every inserter works from async code without threads of your own: each
//! `add*` method has an `*_async` twin that waits for room without blocking
//! a runtime thread, `flush_async` / `close_async` wait for the servers the
//! same way, and network I/O runs on the library's own threads. Close with
//! `close_async().await` at shutdown (`Drop` would block for up to the
//! close timeout). batch-core uses no runtime, so any executor works.
//! ```no_run
//! # #[cfg(all(feature = "postgres", feature = "chroma"))]
//! # async fn service(documents: Vec<(String, Vec<Vec<f32>>)>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use uds3_batch::chroma::{ChromaBatchInserter, ChromaClient, ChromaRecord, metadata};
//! use uds3_batch::postgres::{Connector, DocumentRow, PostgreSQLBatchInserter};
//!
//! // A client call you make yourself is a plain blocking call.
//! let collection = tokio::task::spawn_blocking(|| {
//!     ChromaClient::new("http://127.0.0.1:28000")?.get_or_create_collection("chunks", &Default::default())
//! })
//! .await??;
//! let rows = PostgreSQLBatchInserter::new(Connector::from_url("postgres://postgres@127.0.0.1:25432/postgres")?, 500)?;
//! rows.ensure_schema()?;
//! let vectors = ChromaBatchInserter::new(collection, 500)?;
//! for (id, chunks) in documents {
//!     rows.add_async(DocumentRow::new(id.clone(), format!("/docs/{id}"), "law", 0, 0)).await?;
//!     // All of the document's chunk vectors in one call.
//!     let records = chunks.into_iter().enumerate().map(|(n, embedding)| {
//!         ChromaRecord::new(format!("{id}#{n}"), embedding, metadata([("doc_id", id.as_str().into())]))
//!     });
//!     vectors.add_many_async(records).await?;
//! }
//! let reports = (rows.close_async().await, vectors.close_async().await);
//! assert!(reports.0.is_complete() && reports.1.is_complete());
//! # Ok(())
//! # }
//! ```
//!
//! # Examples
//! - `examples/ingest.rs`: the UDS3 pipeline end to end (PostgreSQL rows,
//!   CouchDB documents, Chroma vectors, graph nodes and relationships) on a
//!   generated corpus, four batchers shared by worker threads.

// The feature table above links every backend module; without a backend's
// feature its link has no target. `cargo xtask test` checks the links with
// all features on.
#![cfg_attr(not(feature = "full"), allow(rustdoc::broken_intra_doc_links))]

pub use batch_core;
pub use batch_core::env::{
    get_chroma_batch_size, get_couchdb_batch_size, get_neo4j_batch_size, get_postgres_batch_size,
    should_use_chroma_batch_insert, should_use_couchdb_batch_insert, should_use_neo4j_batching,
    should_use_postgres_batch_insert,
};
pub use batch_core::{
    AddManyError, BatchError, Batcher, BatcherSettings, ConfigError, ErrorClass, FailedItem,
    Fallback, FlushReport, RetryPolicy, Sink, SinkError, Stats, WhenFull,
};

// The Rust blocks of the workspace README and of the docs/ pages that hold
// Rust code, compiled (not run) as doc tests of this crate. The files lie
// outside this package: only a doctest build of the workspace reads them.
#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../docs/async-and-network.md")]
struct AsyncAndNetworkDoctests;

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../docs/durability.md")]
struct DurabilityDoctests;

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../docs/reading.md")]
struct ReadingDoctests;

#[cfg(all(doctest, feature = "full"))]
#[doc = include_str!("../../docs/managed-databases.md")]
struct ManagedDatabasesDoctests;

#[cfg(feature = "full")]
mod concurrently;
#[cfg(feature = "full")]
mod ingest;
#[cfg(feature = "full")]
pub use ingest::{
    DocumentIngest, DocumentVerdict, MissingParts, Part, PartFailure, RepairReport, Store,
    Uds3Document, Uds3Error, Uds3Stores, Verdict, Verdicts, VerifyReport,
};
#[cfg(feature = "full")]
mod parallel_read;
#[cfg(feature = "full")]
pub use parallel_read::{
    DocumentExistence, DocumentReads, ParallelBatchReader, StoreRead, StoreReads,
};

/// The ChromaDB backend (feature `chroma`).
#[cfg(feature = "chroma")]
#[doc(inline)]
pub use batch_chroma as chroma;
/// The CouchDB backend (feature `couch`).
#[cfg(feature = "couch")]
#[doc(inline)]
pub use batch_couch as couch;
/// The Neo4j backend (feature `neo4j`).
#[cfg(feature = "neo4j")]
#[doc(inline)]
pub use batch_neo4j as neo4j;
/// The PostgreSQL backend (feature `postgres`).
#[cfg(feature = "postgres")]
#[doc(inline)]
pub use batch_postgres as postgres;

//! batch-chroma: UDS3 v2.2's `ChromaBatchInserter` over Chroma's HTTP API v2.
//!
//! Records (id, f32 embedding, scalar metadata, optional document) are
//! buffered by a batch-core [`Batcher`](batch_core::Batcher) and written to
//! `/api/v2/tenants/{t}/databases/{db}/collections/{uuid}/add` (or
//! `/upsert`) in batches, with embeddings sent as base64 little-endian f32
//! when the server supports it.
//!
//! What this crate adds to what the server checks:
//! - Bad records are refused before any round trip, with a clear error:
//!   empty id, empty or wrong-dimension embedding (the dimension comes from
//!   the collection, or from the first batch the server accepted), NaN or
//!   infinity, metadata
//!   keys Chroma reserves (`chroma:...` is silently dropped by the server),
//!   non-finite metadata floats. [`MetadataValue`] cannot hold null or
//!   nested values.
//! - Requests are capped at the server's `max_batch_size` (read once from
//!   `pre-flight-checks`, at the first write) and under its 40 MiB body limit.
//!
//! # Async code
//! Inserter constructors and methods send no request on the caller's
//! thread: every request (the pre-flight checks included) goes out from
//! the batcher's own flusher thread, so they work from a plain thread, a
//! tokio runtime (current- or multi-thread) or `spawn_blocking` alike.
//! Async code can also use the twins that never block a thread:
//! `add_async` (and `add_with_document_async`, `add_record_async`),
//! `flush_async` and `close_async`; their futures are `Send`.
//! [`ChromaClient`] and [`Collection`] calls (`get_or_create_collection`,
//! `count`, ...) are sync: each waits for its answer on the calling
//! thread, so from async code run them in `spawn_blocking`.
//! - In `/add` mode an id that already exists is counted as a conflict, not
//!   as written (the server ignores it silently); duplicate ids in one
//!   batch are resolved as [`WriteMode`] documents and counted as conflicts.
//! - 400/422 let batch-core bisect to the bad record, 404 is permanent, 413
//!   splits the request, 5xx/timeouts/refused connections are retried.
//!
//! # Quick Start
//! ```no_run
//! use batch_chroma::{ChromaBatchInserter, ChromaClient, metadata};
//! use std::time::Duration;
//!
//! let client = ChromaClient::new("http://127.0.0.1:28000")?;
//! let collection =
//!     client.get_or_create_collection("chunks", &metadata([("hnsw:space", "l2".into())]))?;
//! let inserter = ChromaBatchInserter::new(collection, 100)?;
//! for i in 0..250 {
//!     let vector = vec![i as f32; 384];
//!     inserter
//!         .add(format!("chunk-{i}"), vector, metadata([("chunk_index", i.into())]))
//!         .map_err(|f| f.error)?;
//! }
//! let report = inserter.close(Duration::from_secs(30));
//! assert!(report.is_complete(), "failed: {:?}", report.failed);
//! println!("{:?}", inserter.get_stats()); // {"total_added": 250, "total_batches": 3, ...}
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Known server behaviour
//! - Collections with `hnsw:space = cosine` return normalized-then-scaled
//!   vectors from `get` (not bit-exact); `l2` and `ip` return them exactly.
//! - `get_or_create` keeps an existing collection's metadata.
//! - A request that times out may still have been applied. It is replayed:
//!   in `/add` mode a record found stored with this batch's content (same
//!   embedding, metadata and document) counts as written, one with other
//!   content as a conflict. A record whose retries all time out comes back
//!   failed even if the server kept it.
//! - Metadata floats may be read back a unit in the last place off
//!   (`90.28571428571429` comes back as `90.28571428571428`).

mod body;
mod client;
mod collection;
mod error;
mod inserter;
mod metadata;
mod reader;
mod record;
mod sink;
mod validate;
mod write_mode;

pub use body::EmbeddingEncoding;
pub use client::{ChromaClient, ChromaClientBuilder, DEFAULT_TIMEOUT, PreFlight, TOKEN_VAR};
pub use collection::{Collection, GetResult, ReadFields};
pub use error::ChromaError;
pub use inserter::{ChromaBatchInserter, FailedRecord, FailedRecords};
pub use metadata::{Metadata, MetadataValue, metadata, metadata_from_json};
pub use reader::{ChromaDBBatchReader, MAX_IDS_PER_READ};
pub use record::ChromaRecord;
pub use sink::{ChromaSink, MAX_BODY_BYTES};
pub use validate::RecordValidator;
pub use write_mode::WriteMode;

pub use batch_core::env::{get_chroma_batch_size, should_use_chroma_batch_insert};

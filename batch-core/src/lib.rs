//! batch-core: the batching engine every uds3-batch backend shares.
//!
//! A backend implements [`Sink`]; callers use a [`Batcher`] around it.
//! The batcher buffers items, writes them in batches from a flusher thread
//! of its own, retries transient errors with backoff, isolates bad items
//! with a [`Fallback`], and hands every item that could not be written back
//! to the caller as a [`FailedItem`]. Nothing is dropped silently.
//!
//! # Async code
//! [`Batcher::add_async`], [`Batcher::flush_async`] and
//! [`Batcher::close_async`] wait without blocking a thread, under any
//! executor: batch-core depends on no runtime. Adders waiting for room are
//! woken through `event-listener` (smol-rs), and the flusher answers a
//! flush through a `futures-channel` oneshot; both are small, well kept
//! and executor-neutral, where tokio's `Notify`/`oneshot` would tie every
//! user to tokio. Backends run their blocking I/O on threads of their own
//! ([`on_own_thread`], the flusher thread), so every inserter can be built
//! and used from a plain thread, any async runtime, or `spawn_blocking`.
//!
//! # Many items at once
//! [`Batcher::add_many`] (and [`Batcher::add_many_async`]) takes many items
//! in one call, e.g. a document's chunks: one lock of the buffer for all of
//! them, one linger message to the flusher, and under the durable buffer
//! one append and one wait for the sync that covers them all, where `add`
//! in a loop pays each per item. Batches, order and counters are those of
//! `add` in a loop; the items it cannot accept come back in an
//! [`AddManyError`], each with its index in the input.
//!
//! # Several batches in flight
//! [`BatcherSettings::max_in_flight`] writes up to that many batches at
//! once, each on a writer thread with a sink of its own
//! ([`Sink::sibling`]); items with the same [`Sink::item_key`] are never
//! written out of order. With [`BatcherSettings::adaptive_concurrency`] the
//! count finds its level from the requests' latency and throughput, up to
//! that cap (the rule is described in `src/adaptive.rs`), and every writer
//! connects as the batcher starts ([`Sink::connect_ahead`]).
//!
//! # ENV variables
//! Only what says so reads them: the `from_env` constructors
//! ([`BatcherSettings::from_env`], `TlsSettings::from_env`, the
//! inserters' `from_env`, the backends' `ChromaClient::from_env`,
//! `CouchDatabase::from_env`, `Neo4jConfig::from_env`,
//! `Connector::from_env`) and the functions of [`env`](mod@env). Every other
//! constructor and builder takes its settings from its arguments alone,
//! so no ambient variable changes what code that never named it does.
//!
//! # Metrics (feature `metrics`)
//! Recorded through the `metrics` facade, labelled `batcher` (the
//! settings' name) and `backend` ([`Sink::BACKEND`]), for whatever exporter
//! the application installed (`uds3-batch/examples/metrics.rs` renders them
//! with the Prometheus exporter):
//!
//! | name | kind | what |
//! |---|---|---|
//! | `uds3_batch_items_written_total` | counter | items the server confirmed as written (`total_added`) |
//! | `uds3_batch_items_conflicts_total` | counter | items the server already held (`total_conflicts`) |
//! | `uds3_batch_items_failed_total` | counter | items a writer handed back with an error (`total_failed`) |
//! | `uds3_batch_batches_total` | counter | batches resolved (`total_batches`) |
//! | `uds3_batch_requests_total` | counter | requests sent, retries included (`total_requests`) |
//! | `uds3_batch_retries_total` | counter | retries among them (`total_retries`) |
//! | `uds3_batch_deadlocks_total` | counter | requests the server rolled back as deadlocked (`total_deadlocks`) |
//! | `uds3_batch_request_duration_seconds` | histogram | latency of each request |
//! | `uds3_batch_batch_items` | histogram | items per batch |
//! | `uds3_batch_add_to_resolved_seconds` | histogram | per batch, from the `add` of its oldest item until every item is resolved (written, conflict or handed back): the longest add-to-written wait in the batch |
//! | `uds3_batch_handoff_seconds` | histogram | per batch, how long it waited for its writer once both were ready: the library's own idle time between requests ([`Timings`]) |
//! | `uds3_batch_writer_idle_seconds` | histogram | per batch after a writer's first, the writer's time between its previous answer and this request, waiting for adders included |
//!
//! ```
//! use batch_core::{Batcher, BatcherSettings, ErrorClass, ItemOutcome, Sink, SinkError};
//! use std::time::Duration;
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("print failed")]
//! struct PrintError;
//! impl SinkError for PrintError {
//!     fn class(&self) -> ErrorClass { ErrorClass::Transient }
//! }
//!
//! /// A sink that collects batch sizes.
//! struct Collect(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);
//! impl Sink for Collect {
//!     type Item = String;
//!     type Error = PrintError;
//!     fn write_batch(&mut self, items: &[String]) -> Result<Vec<ItemOutcome<PrintError>>, PrintError> {
//!         self.0.lock().unwrap().push(items.len());
//!         Ok(items.iter().map(|_| ItemOutcome::Written).collect())
//!     }
//! }
//!
//! let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
//! let settings = BatcherSettings::builder().name("demo").batch_size(100).build()?;
//! let batcher = Batcher::new(Collect(sizes.clone()), settings)?;
//! for i in 0..250 {
//!     batcher.add(format!("item {i}")).map_err(|f| f.error)?;
//! }
//! let report = batcher.close(Duration::from_secs(5));
//! assert!(report.is_complete());
//! assert_eq!(report.written, 250);
//! assert_eq!(*sizes.lock().unwrap(), vec![100, 100, 50]);
//! assert_eq!(batcher.stats().total_batches, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod adaptive;
mod batcher;
mod codec;
#[cfg(feature = "durable")]
pub mod durable;
mod durable_settings;
pub mod env;
mod error;
mod flusher;
/// Entry points for the project's fuzz targets, not API (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "http")]
pub mod http;
mod inserter;
mod journal;
mod message;
mod own_thread;
mod pool;
pub mod read;
mod report;
mod retry;
#[cfg(feature = "server-url")]
pub mod server_url;
mod settings;
mod sink;
mod state;
mod stats;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
mod timings;
#[cfg(feature = "tls")]
pub mod tls;
mod writer;

pub use batcher::Batcher;
pub use codec::Codec;
pub use durable_settings::{
    BUFFER_DIR_VAR, BUFFER_FSYNC_VAR, BUFFER_MAX_BYTES_VAR, DurableSettings, Fsync,
};
pub use env::BackendEnv;
pub use error::{BatchError, ConfigError, ErrorClass, SinkError, StartError};
pub use own_thread::{on_own_thread, on_own_thread_async};
pub use report::{AddManyError, FailedItem, FlushReport};
pub use retry::RetryPolicy;
pub use settings::{BatcherSettings, BatcherSettingsBuilder, Fallback, MAX_IN_FLIGHT, WhenFull};
pub use sink::{DEFAULT_REQUEST_TIMEOUT, ItemCheck, ItemOutcome, Sink, SinkLimits};
pub use state::FailureHandler;
pub use stats::Stats;
pub use timings::{Histogram, Timings};

//! `ParallelBatchReader`: UDS3 v2.3's parallel reader, one set of ids read
//! from every store at once.

use batch_chroma::{ChromaDBBatchReader, ChromaError, ChromaRecord};
use batch_core::read::{Lookup, ReadError};

use std::future::Future;

use batch_core::on_own_thread_async;

use crate::concurrently::join4;
use batch_couch::serde_json::Value;
use batch_couch::{CouchDBBatchReader, CouchError};
use batch_neo4j::{Neo4jBatchReader, Neo4jError, Properties};
use batch_postgres::{DocumentRow, PostgreSQLBatchReader, PostgresError};

/// What one store answered: found and missing, or why it could not.
pub type StoreRead<T, E> = Option<Result<Lookup<T>, ReadError<E>>>;

/// Reads the same ids from up to four stores concurrently, each store's
/// batch reader on a thread of its own, so a read takes about as long as
/// the slowest store rather than the sum of all four. A store that fails
/// fails alone: the others' answers come back beside its error.
///
/// ```no_run
/// use uds3_batch::ParallelBatchReader;
/// use uds3_batch::couch::{CouchDBBatchReader, CouchDatabase};
/// use uds3_batch::postgres::{Connector, DocumentsTable, PostgreSQLBatchReader, TableName};
///
/// let table = DocumentsTable::new(
///     Connector::from_url("postgres://ingest@127.0.0.1:5432/app")?,
///     TableName::new("documents")?,
/// );
/// let reader = ParallelBatchReader::new()
///     .postgres(PostgreSQLBatchReader::new(table))
///     .couch(CouchDBBatchReader::new(CouchDatabase::new("http://127.0.0.1:5984", "documents")?));
/// let reads = reader.get_many(&["doc-1", "doc-2"]);
/// if let Some(Ok(rows)) = &reads.postgres {
///     println!("PostgreSQL lacks {:?}", rows.missing);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone)]
#[must_use = "a reader reads nothing until get_many or exists_many is called"]
pub struct ParallelBatchReader {
    postgres: Option<PostgreSQLBatchReader>,
    couch: Option<CouchDBBatchReader>,
    chroma: Option<ChromaDBBatchReader>,
    neo4j: Option<Neo4jBatchReader>,
}

/// Each store's answer to one parallel read (`None`: no reader for it).
#[derive(Debug)]
#[non_exhaustive]
pub struct StoreReads<P, C, V, G> {
    /// PostgreSQL's rows.
    pub postgres: StoreRead<P, PostgresError>,
    /// CouchDB's documents.
    pub couch: StoreRead<C, CouchError>,
    /// Chroma's records.
    pub chroma: StoreRead<V, ChromaError>,
    /// Neo4j's nodes.
    pub neo4j: StoreRead<G, Neo4jError>,
}

/// The answer of [`ParallelBatchReader::get_many`].
pub type DocumentReads = StoreReads<DocumentRow, Value, ChromaRecord, Properties>;
/// The answer of [`ParallelBatchReader::exists_many`].
pub type DocumentExistence = StoreReads<(), (), (), ()>;

/// The thread an async parallel read waits on.
const THREAD: &str = "uds3-parallel-read";

/// A store's answer when the read's thread could not run.
fn no_thread<T, E>(error: &std::io::Error) -> StoreRead<T, E> {
    Some(Err(ReadError::Thread(std::io::Error::new(
        error.kind(),
        error.to_string(),
    ))))
}

fn owned<I: AsRef<str>>(ids: &[I]) -> Vec<String> {
    ids.iter().map(|id| id.as_ref().to_owned()).collect()
}

impl<P, C, V, G> StoreReads<P, C, V, G> {
    /// Every store failed with `error` (the read's thread could not run).
    fn failed(error: &std::io::Error) -> Self {
        Self {
            postgres: no_thread(error),
            couch: no_thread(error),
            chroma: no_thread(error),
            neo4j: no_thread(error),
        }
    }

    /// Whether every store asked answered (no error).
    pub fn all_answered(&self) -> bool {
        self.postgres.as_ref().is_none_or(Result::is_ok)
            && self.couch.as_ref().is_none_or(Result::is_ok)
            && self.chroma.as_ref().is_none_or(Result::is_ok)
            && self.neo4j.as_ref().is_none_or(Result::is_ok)
    }
}

/// `$read` of every reader of `$reader` with `$ids`, the four at once.
macro_rules! at_once {
    ($reader:ident, $read:ident, $ids:ident) => {{
        let ParallelBatchReader {
            postgres,
            couch,
            chroma,
            neo4j,
        } = $reader;
        let (postgres, couch, chroma, neo4j) = join4(
            || postgres.as_ref().map(|r| r.$read($ids)),
            || couch.as_ref().map(|r| r.$read($ids)),
            || chroma.as_ref().map(|r| r.$read($ids)),
            || neo4j.as_ref().map(|r| r.$read($ids)),
        );
        StoreReads {
            postgres,
            couch,
            chroma,
            neo4j,
        }
    }};
}

impl ParallelBatchReader {
    /// A reader of no store yet; add stores with the methods named after
    /// them.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads PostgreSQL rows too.
    pub fn postgres(mut self, reader: PostgreSQLBatchReader) -> Self {
        self.postgres = Some(reader);
        self
    }

    /// Reads CouchDB documents too.
    pub fn couch(mut self, reader: CouchDBBatchReader) -> Self {
        self.couch = Some(reader);
        self
    }

    /// Reads Chroma records too.
    pub fn chroma(mut self, reader: ChromaDBBatchReader) -> Self {
        self.chroma = Some(reader);
        self
    }

    /// Reads Neo4j nodes too.
    pub fn neo4j(mut self, reader: Neo4jBatchReader) -> Self {
        self.neo4j = Some(reader);
        self
    }

    /// Reads `ids` from every store at once. Blocking (the stores are read
    /// on threads of the library's); from async code,
    /// [`get_many_async`](Self::get_many_async).
    pub fn get_many<I: AsRef<str> + Sync>(&self, ids: &[I]) -> DocumentReads {
        at_once!(self, get_many, ids)
    }

    /// The same reads one store after the other: what
    /// [`get_many`](Self::get_many) saves (`cargo xtask bench` compares
    /// the two).
    pub fn get_many_in_sequence<I: AsRef<str>>(&self, ids: &[I]) -> DocumentReads {
        StoreReads {
            postgres: self.postgres.as_ref().map(|r| r.get_many(ids)),
            couch: self.couch.as_ref().map(|r| r.get_many(ids)),
            chroma: self.chroma.as_ref().map(|r| r.get_many(ids)),
            neo4j: self.neo4j.as_ref().map(|r| r.get_many(ids)),
        }
    }

    /// [`get_many`](Self::get_many) for async code: the four reads run on
    /// the library's threads and the future awaits them without blocking
    /// the executor (any executor).
    pub fn get_many_async<I: AsRef<str>>(
        &self,
        ids: &[I],
    ) -> impl Future<Output = DocumentReads> + Send + 'static {
        let (readers, ids) = (self.clone(), owned(ids));
        async move {
            on_own_thread_async(THREAD, move || readers.get_many(&ids))
                .await
                .unwrap_or_else(|e| StoreReads::failed(&e))
        }
    }

    /// [`exists_many`](Self::exists_many) for async code, as
    /// [`get_many_async`](Self::get_many_async).
    pub fn exists_many_async<I: AsRef<str>>(
        &self,
        ids: &[I],
    ) -> impl Future<Output = DocumentExistence> + Send + 'static {
        let (readers, ids) = (self.clone(), owned(ids));
        async move {
            on_own_thread_async(THREAD, move || readers.exists_many(&ids))
                .await
                .unwrap_or_else(|e| StoreReads::failed(&e))
        }
    }

    /// Which of `ids` each store holds, every store at once.
    pub fn exists_many<I: AsRef<str> + Sync>(&self, ids: &[I]) -> DocumentExistence {
        at_once!(self, exists_many, ids)
    }
}

//! `ChromaDBBatchReader`: UDS3 v2.3's batch reader, one `get` with `ids`
//! per chunk of ids.

use batch_core::read::{BatchReader, ReadSource};

use crate::collection::Collection;
use crate::error::ChromaError;
use crate::record::ChromaRecord;

/// Ids per `get` unless the server's pre-flight checks (read by a writer
/// or by [`ChromaClient::pre_flight`](crate::ChromaClient::pre_flight))
/// allow fewer.
pub const MAX_IDS_PER_READ: usize = 1000;

/// Reads many records of a collection by id (`get_many`: embedding,
/// metadata and document, or the fields of
/// [`Collection::with_read_fields`]; `exists_many`: ids only, no payload).
///
/// ```no_run
/// use batch_chroma::{ChromaClient, ChromaDBBatchReader, Metadata};
///
/// let client = ChromaClient::new("http://127.0.0.1:8000")?;
/// let collection = client.get_or_create_collection("chunks", &Metadata::new())?;
/// let reader = ChromaDBBatchReader::new(collection);
/// let records = reader.get_many(&["chunk-1", "chunk-2"])?;
/// for (id, record) in &records.found {
///     println!("{id}: {} dimensions", record.embedding.len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type ChromaDBBatchReader = BatchReader<Collection>;

impl ReadSource for Collection {
    type Value = ChromaRecord;
    type Error = ChromaError;
    const BACKEND: &'static str = "chroma";
    const MAX_IDS_PER_REQUEST: usize = MAX_IDS_PER_READ;

    /// Lower where the server's pre-flight checks said so.
    fn max_ids_per_request(&self) -> usize {
        self.client()
            .cached_pre_flight()
            .map_or(MAX_IDS_PER_READ, |p| {
                p.max_batch_size.clamp(1, MAX_IDS_PER_READ)
            })
    }

    fn read(&mut self, ids: &[String]) -> Result<Vec<(String, ChromaRecord)>, ChromaError> {
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let got = self.get_including(&ids, &self.read_fields().include())?;
        let count = got.ids.len();
        let mut embeddings = got.embeddings.unwrap_or_default().into_iter();
        let mut metadatas = got.metadatas.unwrap_or_default().into_iter();
        let mut documents = got.documents.unwrap_or_default().into_iter();
        let mut records = Vec::with_capacity(count);
        for id in got.ids {
            let record = ChromaRecord {
                id: id.clone(),
                embedding: embeddings.next().unwrap_or_default(),
                metadata: metadatas.next().flatten().unwrap_or_default(),
                document: documents.next().flatten(),
            };
            records.push((id, record));
        }
        Ok(records)
    }

    fn exists(&mut self, ids: &[String]) -> Result<Vec<String>, ChromaError> {
        self.existing_ids(ids.iter().map(String::as_str))
    }
}

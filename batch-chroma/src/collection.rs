//! `Collection`: one Chroma collection by UUID, with the reads used to
//! check what was written (`count`, `get`) and the raw write the sink uses.

use serde::Deserialize;

use crate::client::{ChromaClient, CollectionInfo, check_name};
use crate::error::ChromaError;
use crate::metadata::Metadata;

/// A collection, as answered by `get_or_create`. Cheap to clone.
///
/// `count` and `get` are sync, like [`ChromaClient`]'s calls: from async
/// code run them in `spawn_blocking`.
#[derive(Debug, Clone)]
pub struct Collection {
    client: ChromaClient,
    id: String,
    name: String,
    dimension: Option<usize>,
    metadata: Option<serde_json::Value>,
    read_fields: ReadFields,
}

/// The fields a batch reader ([`ChromaDBBatchReader`](crate::ChromaDBBatchReader))
/// asks Chroma for; a field left out reads as empty (no embedding, no
/// metadata, no document), and the answer is that much smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadFields {
    /// The embeddings (the bulk of an answer: 384 floats a record, say).
    pub embeddings: bool,
    /// The metadata.
    pub metadatas: bool,
    /// The document texts.
    pub documents: bool,
}

impl ReadFields {
    /// Every field.
    pub const ALL: Self = Self {
        embeddings: true,
        metadatas: true,
        documents: true,
    };

    /// Metadata and documents, no embeddings.
    pub const WITHOUT_EMBEDDINGS: Self = Self {
        embeddings: false,
        ..Self::ALL
    };

    /// Chroma's `include` list.
    pub(crate) fn include(self) -> Vec<&'static str> {
        [
            (self.embeddings, "embeddings"),
            (self.metadatas, "metadatas"),
            (self.documents, "documents"),
        ]
        .into_iter()
        .filter_map(|(asked, name)| asked.then_some(name))
        .collect()
    }
}

/// Records read back with [`Collection::get`], in the server's order
/// (insertion order); ids that do not exist are left out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct GetResult {
    /// The ids found.
    pub ids: Vec<String>,
    /// Their embeddings (f32 as the server stored them).
    #[serde(default)]
    pub embeddings: Option<Vec<Vec<f32>>>,
    /// Their metadata (`None` for a record without metadata).
    #[serde(default)]
    pub metadatas: Option<Vec<Option<Metadata>>>,
    /// Their documents.
    #[serde(default)]
    pub documents: Option<Vec<Option<String>>>,
}

impl ChromaClient {
    /// Gets the collection `name`, creating it with `metadata` (e.g.
    /// `hnsw:space`) if it does not exist. The metadata of an existing
    /// collection is left as it is (Chroma's `get_or_create`).
    ///
    /// Blocking: from async code, call it in `spawn_blocking`.
    pub fn get_or_create_collection(
        &self,
        name: &str,
        metadata: &Metadata,
    ) -> Result<Collection, ChromaError> {
        #[derive(serde::Serialize)]
        struct Create<'a> {
            name: &'a str,
            get_or_create: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            metadata: Option<&'a Metadata>,
        }
        check_name("collection name", name)?;
        let body = serde_json::to_vec(&Create {
            name,
            get_or_create: true,
            metadata: (!metadata.is_empty()).then_some(metadata),
        })
        .map_err(|e| ChromaError::Invalid(format!("collection metadata: {e}")))?;
        let path = self.collections_path();
        let (_, text) = self.endpoint.request_ok("POST", &path, Some(&body))?;
        let info: CollectionInfo = self.decode(&path, &text)?;
        Ok(Collection::new(self.clone(), info))
    }
}

impl Collection {
    pub(crate) fn new(client: ChromaClient, info: CollectionInfo) -> Self {
        Self {
            client,
            id: info.id,
            name: info.name,
            dimension: info.dimension,
            metadata: info.metadata,
            read_fields: ReadFields::ALL,
        }
    }

    /// The same collection, its batch reads asking for `fields` only
    /// (every field unless set).
    #[must_use]
    pub fn with_read_fields(mut self, fields: ReadFields) -> Self {
        self.read_fields = fields;
        self
    }

    /// The fields its batch reads ask for.
    pub fn read_fields(&self) -> ReadFields {
        self.read_fields
    }

    /// The collection's UUID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The embedding dimension the server reported when the collection was
    /// opened (`None` for a collection that has no record yet).
    pub fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    /// The collection's metadata as the server reported it.
    pub fn metadata(&self) -> Option<&serde_json::Value> {
        self.metadata.as_ref()
    }

    /// The client this collection was opened with.
    pub fn client(&self) -> &ChromaClient {
        &self.client
    }

    /// `.../collections/{uuid}{suffix}`.
    pub(crate) fn path(&self, suffix: &str) -> String {
        format!("{}/{}{}", self.client.collections_path(), self.id, suffix)
    }

    /// Number of records in the collection.
    pub fn count(&self) -> Result<u64, ChromaError> {
        let path = self.path("/count");
        let (_, body) = self.client.endpoint.request_ok("GET", &path, None)?;
        self.client.decode(&path, &body)
    }

    /// Reads the records `ids` with embeddings, metadata and documents.
    pub fn get(&self, ids: &[&str]) -> Result<GetResult, ChromaError> {
        self.get_including(ids, &["embeddings", "metadatas", "documents"])
    }

    /// The subset of `ids` that exists (no payload is read).
    pub fn existing_ids<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<String>, ChromaError> {
        let ids: Vec<&str> = ids.into_iter().collect();
        Ok(self.get_including(&ids, &[])?.ids)
    }

    pub(crate) fn get_including(
        &self,
        ids: &[&str],
        include: &[&str],
    ) -> Result<GetResult, ChromaError> {
        let body = serde_json::json!({ "ids": ids, "include": include });
        let path = self.path("/get");
        let (_, text) =
            self.client
                .endpoint
                .request_ok("POST", &path, Some(body.to_string().as_bytes()))?;
        self.client.decode(&path, &text)
    }

    /// Sends a ready JSON body to `/add` or `/upsert`.
    pub(crate) fn post(&self, suffix: &str, body: &[u8]) -> Result<(), ChromaError> {
        self.client
            .endpoint
            .request_ok("POST", &self.path(suffix), Some(body))?;
        Ok(())
    }
}

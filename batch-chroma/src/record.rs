//! `ChromaRecord`: one vector with its id, metadata and optional document.

use crate::metadata::Metadata;

/// One record to write: UDS3's `(chunk_id, vector, metadata)` plus an
/// optional document text.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
pub struct ChromaRecord {
    /// The record id (UDS3's `chunk_id`); non-empty.
    pub id: String,
    /// The embedding; every record of a collection has the same length.
    pub embedding: Vec<f32>,
    /// Scalar metadata; may be empty.
    pub metadata: Metadata,
    /// The document text, if any.
    pub document: Option<String>,
}

impl ChromaRecord {
    /// A record without a document.
    pub fn new(id: impl Into<String>, embedding: Vec<f32>, metadata: Metadata) -> Self {
        Self {
            id: id.into(),
            embedding,
            metadata,
            document: None,
        }
    }

    /// Sets the document text.
    #[must_use]
    pub fn with_document(mut self, document: impl Into<String>) -> Self {
        self.document = Some(document.into());
        self
    }
}

//! Verdicts: per document, whether every part reached its store.

use batch_core::ErrorClass;

use crate::ingest::{Part, Store};

/// A part that did not reach its store, with why.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PartFailure {
    /// The part.
    pub part: Part,
    /// The error its batcher handed it back with.
    pub error: String,
    /// The error's class, if a request was made (`None`: the library
    /// refused the part before any request, e.g. an invalid value). A part
    /// failed with [`ErrorClass::OutcomeUnknown`] may be stored after
    /// all: [`DocumentIngest::verify`](crate::DocumentIngest::verify)
    /// tells.
    pub class: Option<ErrorClass>,
}

impl PartFailure {
    /// The store the part was meant for.
    pub fn store(&self) -> Store {
        self.part.store()
    }
}

/// One document's verdict.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// Every part is written or was already there.
    Complete,
    /// These parts failed (each once).
    Incomplete(Vec<PartFailure>),
}

/// A document and its verdict.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DocumentVerdict {
    /// The document's id.
    pub document_id: String,
    /// Whether all of it arrived.
    pub verdict: Verdict,
}

impl DocumentVerdict {
    /// Whether every part arrived.
    pub fn is_complete(&self) -> bool {
        matches!(self.verdict, Verdict::Complete)
    }

    /// The parts that failed (none for a complete document).
    pub fn failures(&self) -> &[PartFailure] {
        match &self.verdict {
            Verdict::Complete => &[],
            Verdict::Incomplete(failures) => failures,
        }
    }
}

/// The verdicts of the documents a flush resolved, in the order they were
/// added; each document once.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Verdicts {
    /// One per document.
    pub documents: Vec<DocumentVerdict>,
}

impl Verdicts {
    /// Documents with every part written or already present.
    pub fn complete(&self) -> usize {
        self.documents.iter().filter(|d| d.is_complete()).count()
    }

    /// The documents some part of which failed.
    pub fn incomplete(&self) -> impl Iterator<Item = &DocumentVerdict> {
        self.documents.iter().filter(|d| !d.is_complete())
    }

    /// Whether every document is complete.
    pub fn all_complete(&self) -> bool {
        self.documents.iter().all(DocumentVerdict::is_complete)
    }
}

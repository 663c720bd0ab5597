//! Document ingest with a verdict (feature `full`): one legal document
//! written to all four stores, and per document whether every part
//! arrived; verify and repair with the batch readers.

mod book;
mod document;
mod document_ingest;
mod error;
mod missing;
mod part;
mod stores;
mod verdict;
mod verify;

pub use document::Uds3Document;
pub use document_ingest::DocumentIngest;
pub use error::Uds3Error;
pub use part::{Part, Store};
pub use stores::Uds3Stores;
pub use verdict::{DocumentVerdict, PartFailure, Verdict, Verdicts};
pub use verify::{MissingParts, RepairReport, VerifyReport};

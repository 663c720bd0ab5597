//! Verify and repair: which parts of which documents the stores lack, read
//! with the batch readers, and those parts sent again.

use std::collections::{BTreeMap, HashSet};

use crate::ingest::missing::missing_parts;
use crate::ingest::{DocumentIngest, DocumentVerdict, Part, Uds3Document, Uds3Error};

/// A document's parts that a store does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MissingParts {
    /// The document.
    pub document_id: String,
    /// Its parts not found, in the document's order.
    pub parts: Vec<Part>,
}

/// What [`DocumentIngest::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Documents checked (those the source knew).
    pub checked: usize,
    /// The documents with missing parts, in the order asked; complete
    /// documents are not listed.
    pub missing: Vec<MissingParts>,
    /// Ids the source did not know (not checked).
    pub unknown: Vec<String>,
}

impl VerifyReport {
    /// Whether every checked document is whole in every store.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// What [`DocumentIngest::repair`] did.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The parts sent again, per document, that are now written.
    pub fixed: Vec<MissingParts>,
    /// Documents whose parts failed again, with the failures.
    pub still_incomplete: Vec<DocumentVerdict>,
    /// Ids the source did not know (nothing sent).
    pub unknown: Vec<String>,
}

impl DocumentIngest {
    /// Reads, with one batch reader per store (the four at once), which
    /// parts of the documents `ids` are missing. `source` gives each
    /// document as it should be stored (from the caller's own data); the
    /// parts it lists are the ones checked. Blocking.
    pub fn verify<I: AsRef<str>>(
        &self,
        ids: &[I],
        mut source: impl FnMut(&str) -> Option<Uds3Document>,
    ) -> Result<VerifyReport, Uds3Error> {
        let mut report = VerifyReport::default();
        let mut expected = Vec::new();
        for id in ids {
            match source(id.as_ref()) {
                Some(document) => expected.push((document.id.clone(), document.parts())),
                None => report.unknown.push(id.as_ref().to_owned()),
            }
        }
        report.checked = expected.len();
        let all: Vec<&Part> = expected.iter().flat_map(|(_, parts)| parts).collect();
        let missing = missing_parts(self.stores(), &all)?;
        for (document_id, parts) in expected {
            let parts: Vec<Part> = parts.into_iter().filter(|p| missing.contains(p)).collect();
            if !parts.is_empty() {
                report.missing.push(MissingParts { document_id, parts });
            }
        }
        Ok(report)
    }

    /// Sends again exactly the parts `report` found missing, taken from
    /// `source`, flushes, and reports which are now written. Documents
    /// added meanwhile by other threads are left for the next
    /// [`flush`](Self::flush) to judge.
    pub fn repair(
        &self,
        report: &VerifyReport,
        mut source: impl FnMut(&str) -> Option<Uds3Document>,
    ) -> RepairReport {
        let mut repair = RepairReport::default();
        let mut sent = BTreeMap::new();
        for missing in &report.missing {
            let Some(document) = source(&missing.document_id) else {
                repair.unknown.push(missing.document_id.clone());
                continue;
            };
            let keep: HashSet<Part> = missing.parts.iter().cloned().collect();
            self.add(document.only(&keep));
            sent.insert(missing.document_id.clone(), missing.clone());
        }
        let ids: HashSet<String> = sent.keys().cloned().collect();
        let verdicts = self.flush_judging(Some(&ids));
        for judged in verdicts.documents {
            if judged.is_complete() {
                if let Some(fixed) = sent.remove(&judged.document_id) {
                    repair.fixed.push(fixed);
                }
            } else {
                repair.still_incomplete.push(judged);
            }
        }
        repair
    }
}

//! Verify and repair: which parts of which documents the stores lack, read
//! with the batch readers, and those parts sent again.

use std::collections::{BTreeMap, HashSet};

use batch_chroma::ChromaDBBatchReader;
use batch_core::read::BatchReader;
use batch_couch::CouchDBBatchReader;
use batch_neo4j::{NodesByLabel, RelationshipsByType};
use batch_postgres::{DocumentsTable, PostgreSQLBatchReader};

use crate::concurrently::join4;
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

type Found = Result<HashSet<Part>, Uds3Error>;

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
        let (rows, bodies, chunks, graph) = join4(
            || self.missing_rows(&all),
            || self.missing_bodies(&all),
            || self.missing_chunks(&all),
            || self.missing_graph(&all),
        );
        let mut missing = rows?;
        missing.extend(bodies?);
        missing.extend(chunks?);
        missing.extend(graph?);
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

    fn missing_rows(&self, parts: &[&Part]) -> Found {
        let ids: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Row { document_id } => Some(document_id.as_str()),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let stores = self.stores();
        let table = DocumentsTable::new(stores.postgres.clone(), stores.table.clone());
        let lookup = PostgreSQLBatchReader::new(table).exists_many(&ids)?;
        Ok(lookup
            .missing
            .into_iter()
            .map(|document_id| Part::Row { document_id })
            .collect())
    }

    fn missing_bodies(&self, parts: &[&Part]) -> Found {
        let ids: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Body { id } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let lookup = CouchDBBatchReader::new(self.stores().couch.clone()).exists_many(&ids)?;
        Ok(lookup
            .missing
            .into_iter()
            .map(|id| Part::Body { id })
            .collect())
    }

    fn missing_chunks(&self, parts: &[&Part]) -> Found {
        let ids: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Chunk { id } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let lookup = ChromaDBBatchReader::new(self.stores().chroma.clone()).exists_many(&ids)?;
        Ok(lookup
            .missing
            .into_iter()
            .map(|id| Part::Chunk { id })
            .collect())
    }

    /// Nodes by label and relationships by type and labels: one reader
    /// (one connection) per group, one after the other.
    fn missing_graph(&self, parts: &[&Part]) -> Found {
        let mut nodes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut relationships: BTreeMap<(&str, &str, &str), Vec<String>> = BTreeMap::new();
        for part in parts {
            match part {
                Part::Node { label, id } => nodes.entry(label).or_default().push(id),
                Part::Relationship {
                    from_label,
                    from_id,
                    rel_type,
                    to_label,
                    to_id,
                } => relationships
                    .entry((from_label, rel_type, to_label))
                    .or_default()
                    .push(RelationshipsByType::pair(from_id, to_id)),
                _ => {}
            }
        }
        let config = &self.stores().neo4j;
        let mut missing = HashSet::new();
        for (label, ids) in nodes {
            let lookup =
                BatchReader::new(NodesByLabel::new(config.clone(), label)?).exists_many(&ids)?;
            missing.extend(lookup.missing.into_iter().map(|id| Part::Node {
                label: label.to_owned(),
                id,
            }));
        }
        for ((from_label, rel_type, to_label), pairs) in relationships {
            let source = RelationshipsByType::new(config.clone(), from_label, rel_type, to_label)?;
            let lookup = BatchReader::new(source).exists_many(&pairs)?;
            for pair in lookup.missing {
                if let Some((from_id, to_id)) = pair.split_once(batch_neo4j::PAIR_SEPARATOR) {
                    missing.insert(Part::Relationship {
                        from_label: from_label.to_owned(),
                        from_id: from_id.to_owned(),
                        rel_type: rel_type.to_owned(),
                        to_label: to_label.to_owned(),
                        to_id: to_id.to_owned(),
                    });
                }
            }
        }
        Ok(missing)
    }
}

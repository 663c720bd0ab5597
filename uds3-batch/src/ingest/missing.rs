//! What the stores lack: the parts of documents not found, read with one
//! batch reader per store, the four stores at once.

use std::collections::{BTreeMap, HashSet};

use batch_chroma::ChromaDBBatchReader;
use batch_core::read::{BatchReader, ReadError, ReadSource};
use batch_couch::CouchDBBatchReader;
use batch_neo4j::{NodesByLabel, RelationshipsByType};
use batch_postgres::{DocumentsTable, PostgreSQLBatchReader};

use crate::concurrently::join4;
use crate::ingest::{Part, Store, Uds3Error, Uds3Stores};

type Found = Result<HashSet<Part>, Uds3Error>;

/// Which of `parts` their stores do not hold.
pub(crate) fn missing_parts(stores: &Uds3Stores, parts: &[&Part]) -> Found {
    let (rows, bodies, chunks, graph) = join4(
        || {
            missing_by_id(parts, Store::Postgres, || {
                PostgreSQLBatchReader::new(DocumentsTable::new(
                    stores.postgres.clone(),
                    stores.table.clone(),
                ))
            })
        },
        || {
            missing_by_id(parts, Store::Couch, || {
                CouchDBBatchReader::new(stores.couch.clone())
            })
        },
        || {
            missing_by_id(parts, Store::Chroma, || {
                ChromaDBBatchReader::new(stores.chroma.clone())
            })
        },
        || missing_graph(stores, parts),
    );
    let mut missing = rows?;
    missing.extend(bodies?);
    missing.extend(chunks?);
    missing.extend(graph?);
    Ok(missing)
}

/// The parts of `store` named by one id (rows, bodies, chunks) that the
/// reader `reader` makes does not find.
fn missing_by_id<S: ReadSource>(
    parts: &[&Part],
    store: Store,
    reader: impl FnOnce() -> BatchReader<S>,
) -> Found
where
    Uds3Error: From<ReadError<S::Error>>,
{
    let ids: Vec<&str> = parts
        .iter()
        .filter(|p| p.store() == store)
        .filter_map(|p| p.single_id())
        .collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let lookup = reader().exists_many(&ids)?;
    Ok(lookup
        .missing
        .into_iter()
        .filter_map(|id| Part::by_id(store, id))
        .collect())
}

/// Nodes by label and relationships by type and labels: one reader
/// (one connection) per group, one after the other.
fn missing_graph(stores: &Uds3Stores, parts: &[&Part]) -> Found {
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
    let config = &stores.neo4j;
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

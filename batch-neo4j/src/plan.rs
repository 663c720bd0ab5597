//! `BatchPlan`: one batch of items turned into one statement per label and
//! per relationship type, and the server's answer turned back into one
//! outcome per item.

use std::collections::HashMap;

use batch_core::ItemOutcome;
use bolt_client::bolt_proto::Value;
use bolt_client::bolt_proto::message::Record;

use crate::config::{MergeAnchor, Neo4jConfig};
use crate::connection::Statement;
use crate::error::Neo4jError;
use crate::item::{CREATED_MARKER, GraphItem, GroupKey, group_key};
use crate::name::Name;
use crate::property::{Properties, properties_to_bolt};

/// Statements for one batch and what is needed to read their answers.
#[derive(Debug)]
pub(crate) struct BatchPlan {
    /// Node statements first, so relationships in the same batch find their nodes.
    pub statements: Vec<Statement>,
    /// Where each item of the batch went.
    slots: Vec<Slot>,
    /// Why refused items were refused.
    invalid: HashMap<usize, String>,
    /// Relationships in the batch.
    pub relationships: usize,
}

/// What a batch item is in the plan.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// Refused before any round trip (bad name, id or property).
    Invalid,
    /// Carried by the row of item `first` (itself, or the first item of
    /// the batch with the same identity: duplicates are merged into one
    /// row, their properties applied in order).
    Row { first: usize },
}

impl BatchPlan {
    /// `replay`: the batch follows an attempt whose commit may have
    /// succeeded (see [`written_test`]).
    pub(crate) fn build(
        items: &[GraphItem],
        anchor: MergeAnchor,
        apoc: bool,
        replay: bool,
    ) -> Self {
        let mut slots = Vec::with_capacity(items.len());
        let mut invalid = HashMap::new();
        let mut merged: HashMap<usize, Properties> = HashMap::new();
        // Distinct groups in order of appearance, and their members.
        let mut groups: Vec<(GroupKey, Vec<usize>)> = Vec::new();
        // Identity within a group (group index, id or endpoints) -> the
        // first item with it.
        let mut seen: HashMap<(usize, &str, &str), usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(items.len(), Default::default());
        let mut relationships = 0;

        for (i, item) in items.iter().enumerate() {
            // A batch has a few groups: a scan finds the item's by its
            // names as given. Only the first item of a group has its names
            // checked and copied into the group's key.
            let group = match groups.iter().position(|(k, _)| k.holds(item)) {
                Some(group) => group,
                None => match group_key(item) {
                    Ok(key) => {
                        groups.push((key, Vec::new()));
                        groups.len() - 1
                    }
                    Err(message) => {
                        invalid.insert(i, message);
                        slots.push(Slot::Invalid);
                        continue;
                    }
                },
            };
            let (a, b) = match item {
                GraphItem::Node(n) => (n.id.as_str(), ""),
                GraphItem::Relationship(r) => {
                    relationships += 1;
                    (r.from_id.as_str(), r.to_id.as_str())
                }
            };
            let first = *seen.entry((group, a, b)).or_insert(i);
            if first == i {
                if let Some((_, members)) = groups.get_mut(group) {
                    members.push(i);
                }
            } else {
                let target = merged
                    .entry(first)
                    .or_insert_with(|| item_properties(&items[first]).clone());
                target.extend(
                    item_properties(item)
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
            }
            slots.push(Slot::Row { first });
        }
        // GroupKey order puts every Node group before every Relationship
        // group, so relationships find the nodes of the same batch.
        groups.sort_by(|(a, _), (b, _)| a.cmp(b));
        // Within a group, rows in the order of their node ids (start node,
        // then end node): Neo4j locks a node as a row creates or changes it
        // or a relationship on it, in row order, and holds the lock until
        // the commit. Two batches in flight that share nodes then take
        // their shared locks in one order, so one waits for the other
        // instead of each waiting for a lock the other holds
        // (`DeadlockDetected`, the loser rolled back and retried). Sorted
        // by the ids as given (bytes): any total order works, so long as
        // every batch uses the same. Outcomes are matched by `i`, so the
        // order changes nothing else.
        for (_, members) in &mut groups {
            members.sort_by_key(|&i| lock_order(&items[i]));
        }

        let props_of =
            |i: usize| properties_to_bolt(merged.get(&i).unwrap_or(item_properties(&items[i])));
        let statements = groups
            .into_iter()
            .map(|(key, indexes)| {
                let rows = indexes
                    .iter()
                    .map(|&i| match &items[i] {
                        GraphItem::Node(n) => row([
                            ("i", index_value(i)),
                            ("id", Value::String(n.id.clone())),
                            ("props", props_of(i)),
                        ]),
                        GraphItem::Relationship(r) => row([
                            ("i", index_value(i)),
                            ("from", Value::String(r.from_id.clone())),
                            ("to", Value::String(r.to_id.clone())),
                            ("props", props_of(i)),
                        ]),
                    })
                    .collect();
                let cypher = match &key {
                    GroupKey::Node(label) => node_cypher(label, replay),
                    GroupKey::Relationship {
                        rel_type,
                        from_label,
                        to_label,
                    } => relationship_cypher(rel_type, from_label, to_label, anchor, apoc, replay),
                };
                statement(cypher, rows)
            })
            .collect();
        Self {
            statements,
            slots,
            invalid,
            relationships,
        }
    }

    /// `true` when no item needs a round trip (all were refused).
    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// One outcome per item from the records of every statement. Each
    /// record is `(i, written)`; a row without a record matched no
    /// endpoint. Of duplicates carried by one row, the last item is the
    /// one written (its values are applied last) and the earlier ones are
    /// conflicts, superseded in the batch, as on the other backends.
    pub(crate) fn outcomes(
        &self,
        items: &[GraphItem],
        results: &[Vec<Record>],
    ) -> Vec<ItemOutcome<Neo4jError>> {
        // Per item index: whether a record came back for it, and whether
        // one said written.
        let mut written: Vec<Option<bool>> = vec![None; items.len()];
        for record in results.iter().flatten() {
            if let [Value::Integer(i), flag] = record.fields() {
                let Some(slot) = usize::try_from(*i).ok().and_then(|i| written.get_mut(i)) else {
                    continue;
                };
                let now = matches!(flag, Value::Boolean(true));
                *slot = Some(slot.unwrap_or(false) | now);
            }
        }
        // Per row (its first item): the last item it carries.
        let mut last: Vec<usize> = (0..items.len()).collect();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Slot::Row { first } = *slot
                && let Some(l) = last.get_mut(first)
            {
                *l = i;
            }
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let first = match self.slots[i] {
                    Slot::Row { first } => first,
                    Slot::Invalid => {
                        let message = self.invalid.get(&i).cloned().unwrap_or_default();
                        return ItemOutcome::Failed(Neo4jError::Invalid(message));
                    }
                };
                match written.get(first).copied().flatten() {
                    Some(true) if last.get(first) == Some(&i) => ItemOutcome::Written,
                    Some(_) => ItemOutcome::Conflict,
                    None => ItemOutcome::Failed(missing(item)),
                }
            })
            .collect()
    }
}

/// The ids whose order a row takes its node locks in (see `build`).
fn lock_order(item: &GraphItem) -> (&str, &str) {
    match item {
        GraphItem::Node(n) => (n.id.as_str(), ""),
        GraphItem::Relationship(r) => (r.from_id.as_str(), r.to_id.as_str()),
    }
}

fn item_properties(item: &GraphItem) -> &Properties {
    match item {
        GraphItem::Node(n) => &n.properties,
        GraphItem::Relationship(r) => &r.properties,
    }
}

fn missing(item: &GraphItem) -> Neo4jError {
    match item {
        GraphItem::Relationship(r) => Neo4jError::EndpointNotFound {
            rel_type: r.rel_type.clone(),
            from_label: r.from_label.clone(),
            from_id: r.from_id.clone(),
            to_label: r.to_label.clone(),
            to_id: r.to_id.clone(),
        },
        GraphItem::Node(n) => Neo4jError::Protocol(format!(
            "the server returned no row for the upsert of ({} {{id: {:?}}})",
            n.label, n.id
        )),
    }
}

fn index_value(i: usize) -> Value {
    Value::Integer(i64::try_from(i).unwrap_or(i64::MAX))
}

fn row<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn statement(cypher: String, rows: Vec<Value>) -> Statement {
    Statement {
        cypher,
        params: HashMap::from([("rows".to_owned(), Value::List(rows))]),
    }
}

/// Sets a marker on create and clears it in the same query (the only way
/// Cypher tells a created element from a matched one), and returns
/// whether the row counts as written (see [`written_test`]). Cleared with
/// `SET x = null`, not `REMOVE`: on ArcadeDB 26.10 a `REMOVE` after `WITH`
/// left the marker stored on MERGE-created elements.
fn created_flag(var: &str, replay: bool) -> String {
    format!(
        "ON CREATE SET {var}.`{CREATED_MARKER}` = true \
         WITH row, {var}, {} AS written \
         SET {var}.`{CREATED_MARKER}` = null \
         SET {var} += row.props \
         RETURN row.i AS i, written",
        written_test(var, replay)
    )
}

/// The `written` expression, batch-core's one meaning of written
/// (`Stats`): the row is written when the MERGE created the element, or
/// when `SET += row.props` changes it (an existing element that holds
/// another value for one of the row's keys), as PostgreSQL's
/// `ON CONFLICT DO UPDATE` counts an update; an element that already
/// holds every value of the row is a conflict, as PostgreSQL's
/// `IS DISTINCT FROM` guard counts it. Compared before the `SET`.
///
/// In a replay every row counts as written: after a lost COMMIT answer an
/// element holding the row's values is most likely the lost attempt's own
/// write (the transaction was all or nothing), and it cannot be told from
/// one that held them before; batch-core's `replay_batch` contract asks
/// for written then. Until issue 30 the replay compared the element's
/// whole property map with the row's, so an upsert of some keys of a
/// node with more (its replay found the lost attempt's change) counted
/// as a conflict, and the normal path counted every changed element as a
/// conflict.
fn written_test(var: &str, replay: bool) -> String {
    if replay {
        return "true".to_owned();
    }
    format!(
        "{var}.`{CREATED_MARKER}` IS NOT NULL \
         OR NOT coalesce(all(k IN keys(row.props) WHERE {var}[k] = row.props[k]), false)"
    )
}

pub(crate) fn node_cypher(label: &Name, replay: bool) -> String {
    format!(
        "UNWIND $rows AS row MERGE (n:{} {{id: row.id}}) {}",
        label.quoted(),
        created_flag("n", replay)
    )
}

impl Neo4jConfig {
    /// The Cypher each batch runs for relationships of `rel_type` between
    /// this config's labels (the grouped `MERGE`, not APOC): it unwinds
    /// `$rows`, maps of `i` (the row's index), `from`, `to` (node ids) and
    /// `props`, and returns `i` and whether the row was written (created, or
    /// its properties changed).
    /// For review, `EXPLAIN`, or timing the same statement without the
    /// batcher. `rel_type` is checked like `add_relationship`'s.
    pub fn relationship_statement(&self, rel_type: &str) -> Result<String, Neo4jError> {
        let rel_type = Name::parse(rel_type, "relationship type").map_err(Neo4jError::Config)?;
        Ok(relationship_cypher(
            &rel_type,
            &self.from_label,
            &self.to_label,
            self.anchor,
            false,
            false,
        ))
    }
}

pub(crate) fn relationship_cypher(
    rel_type: &Name,
    from_label: &Name,
    to_label: &Name,
    anchor: MergeAnchor,
    apoc: bool,
    replay: bool,
) -> String {
    let matches = format!(
        "UNWIND $rows AS row \
         MATCH (a:{} {{id: row.from}}) \
         MATCH (b:{} {{id: row.to}}) ",
        from_label.quoted(),
        to_label.quoted(),
    );
    if apoc {
        // The type is a validated identifier, so quoting it as a string
        // literal is safe. The marker goes in through onCreateProps.
        return format!(
            "{matches}CALL apoc.merge.relationship(a, '{rel_type}', {{}}, {{`{CREATED_MARKER}`: true}}, b, {{}}) \
             YIELD rel WITH row, rel AS r \
             WITH row, r, {} AS written \
             SET r.`{CREATED_MARKER}` = null \
             SET r += row.props \
             RETURN row.i AS i, written",
            written_test("r", replay)
        );
    }
    let pattern = match anchor {
        MergeAnchor::EndNode => format!("(b)<-[r:{}]-(a)", rel_type.quoted()),
        MergeAnchor::StartNode => format!("(a)-[r:{}]->(b)", rel_type.quoted()),
    };
    format!("{matches}MERGE {pattern} {}", created_flag("r", replay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{NodeItem, RelationshipItem};

    fn rel(rel_type: &str, from: &str, to: &str) -> GraphItem {
        GraphItem::Relationship(Box::new(RelationshipItem {
            from_label: "Doc".to_owned(),
            from_id: from.to_owned(),
            to_label: "Chunk".to_owned(),
            to_id: to.to_owned(),
            rel_type: rel_type.to_owned(),
            properties: Properties::new(),
        }))
    }

    fn node(label: &str, id: &str) -> GraphItem {
        GraphItem::Node(Box::new(NodeItem {
            label: label.to_owned(),
            id: id.to_owned(),
            properties: Properties::new(),
        }))
    }

    /// The rows' `i` fields of each statement.
    fn rows(plan: &BatchPlan) -> Vec<Vec<i64>> {
        plan.statements
            .iter()
            .map(|s| match s.params.get("rows") {
                Some(Value::List(rows)) => rows
                    .iter()
                    .map(|row| match row {
                        Value::Map(m) => match m.get("i") {
                            Some(Value::Integer(i)) => *i,
                            other => panic!("row without i: {other:?}"),
                        },
                        other => panic!("row is not a map: {other:?}"),
                    })
                    .collect(),
                other => panic!("no rows: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn rows_are_sorted_by_node_ids_within_each_statement() {
        // Two batches sharing nodes take their locks in the same order
        // whatever order their items were added in.
        let items = [
            node("Chunk", "c2"),
            rel("HAS_CHUNK", "d1", "c0"),
            node("Chunk", "c0"),
            rel("HAS_CHUNK", "d0", "c9"),
            rel("HAS_CHUNK", "d0", "c1"),
            node("Chunk", "c1"),
        ];
        let plan = BatchPlan::build(&items, MergeAnchor::EndNode, false, false);
        assert_eq!(rows(&plan), [vec![2, 5, 0], vec![4, 3, 1]]);
    }

    #[test]
    fn one_statement_per_group_nodes_first_duplicates_merged_bad_names_refused() {
        let items = [
            rel("HAS_CHUNK", "d0", "c0"),
            node("Chunk", "c9"),
            rel("CITES", "d0", "c1"),
            rel("HAS_CHUNK", "d0", "c1"),
            rel("HAS_CHUNK", "d0", "c0"),
            rel("BAD TYPE", "d0", "c2"),
            node("Chunk", "c9"),
            rel("HAS_CHUNK", "d1", "c0"),
        ];
        let plan = BatchPlan::build(&items, MergeAnchor::EndNode, false, false);
        // Nodes, then relationship groups in key order; within a group
        // node-id order, duplicates carried by their first item.
        assert_eq!(rows(&plan), [vec![1], vec![2], vec![0, 3, 7]]);
        assert!(plan.statements[0].cypher.contains("MERGE (n:`Chunk`"));
        assert!(plan.statements[1].cypher.contains("CITES"));
        assert!(plan.statements[2].cypher.contains("HAS_CHUNK"));
        assert_eq!(plan.relationships, 5, "valid ones, duplicates included");
        let outcomes = plan.outcomes(&items, &[]);
        assert!(
            matches!(&outcomes[5], ItemOutcome::Failed(e) if e.to_string().contains("BAD TYPE")),
            "{:?}",
            outcomes[5]
        );
    }
}

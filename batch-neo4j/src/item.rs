//! The items a `Neo4jBatchCreator` buffers: relationships and node upserts.

use crate::name::Name;
use crate::property::Properties;

/// Property keys the sink reserves: `id` is a node's identity (changing it
/// through `SET n += props` would move the node), and the marker tells a
/// created element from an existing one inside the write query.
pub(crate) const CREATED_MARKER: &str = "_uds3_batch_created";

/// One relationship to merge between two existing nodes, found by label and id.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
pub struct RelationshipItem {
    /// Label of the start node.
    pub from_label: String,
    /// `id` property of the start node.
    pub from_id: String,
    /// Label of the end node.
    pub to_label: String,
    /// `id` property of the end node.
    pub to_id: String,
    /// The relationship type.
    pub rel_type: String,
    /// Properties set on the relationship (`SET r += props`).
    pub properties: Properties,
}

/// One node to create or update: `MERGE (n:Label {id}) SET n += props`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
pub struct NodeItem {
    /// The node's label.
    pub label: String,
    /// The node's `id` property.
    pub id: String,
    /// Properties set on the node (`SET n += props`); `id` is not allowed.
    pub properties: Properties,
}

/// What one `add` hands to the batcher. Nodes and relationships share one
/// batcher so that a node added before a relationship is written no later
/// than that relationship (in the same transaction at the latest).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum GraphItem {
    /// A relationship to merge (boxed: items travel by value through
    /// `add` and its error).
    Relationship(Box<RelationshipItem>),
    /// A node to upsert.
    Node(Box<NodeItem>),
}

/// Where an item goes: the label, or the type and labels, that its
/// statement is built for. Validated, so safe to paste into Cypher.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum GroupKey {
    /// Nodes with this label.
    Node(Name),
    /// Relationships of this type between these labels.
    Relationship {
        /// The type.
        rel_type: Name,
        /// Label of the start nodes.
        from_label: Name,
        /// Label of the end nodes.
        to_label: Name,
    },
}

impl GroupKey {
    /// Whether `item` belongs to this group: its names equal the key's.
    pub(crate) fn holds(&self, item: &GraphItem) -> bool {
        match (self, item) {
            (GroupKey::Node(label), GraphItem::Node(n)) => label.as_str() == n.label,
            (
                GroupKey::Relationship {
                    rel_type,
                    from_label,
                    to_label,
                },
                GraphItem::Relationship(r),
            ) => {
                rel_type.as_str() == r.rel_type
                    && from_label.as_str() == r.from_label
                    && to_label.as_str() == r.to_label
            }
            _ => false,
        }
    }
}

/// The statement group of an item. Fails on a label or type that is not
/// safe to paste into Cypher: the plan's last guard, since items reach the
/// sink only after [`check_item`].
pub(crate) fn group_key(item: &GraphItem) -> Result<GroupKey, String> {
    Ok(match item {
        GraphItem::Relationship(r) => GroupKey::Relationship {
            rel_type: Name::parse(&r.rel_type, "relationship type")?,
            from_label: Name::parse(&r.from_label, "label")?,
            to_label: Name::parse(&r.to_label, "label")?,
        },
        GraphItem::Node(n) => GroupKey::Node(Name::parse(&n.label, "label")?),
    })
}

/// Checks names, ids and property values of an item: the sink's
/// `item_check`, which the batcher runs in `add`, so a bad item comes back
/// at once and never reaches a round trip.
pub(crate) fn check_item(item: &GraphItem) -> Result<(), String> {
    match item {
        GraphItem::Relationship(r) => {
            Name::check(&r.rel_type, "relationship type")?;
            Name::check(&r.from_label, "label")?;
            Name::check(&r.to_label, "label")?;
        }
        GraphItem::Node(n) => Name::check(&n.label, "label")?,
    }
    let (ids, props, is_node): (&[&str], &Properties, bool) = match item {
        GraphItem::Relationship(r) => (&[&r.from_id, &r.to_id], &r.properties, false),
        GraphItem::Node(n) => (&[&n.id], &n.properties, true),
    };
    if ids.iter().any(|id| id.is_empty()) {
        return Err("node ids must not be empty".to_owned());
    }
    for (key, value) in props {
        // Neo4j's own rule for token names; sent, the item would fail its
        // batch with Neo.ClientError.Schema.TokenNameError.
        if key.is_empty() || key.contains('\0') {
            return Err(format!(
                "property key {key:?} is not allowed: Neo4j refuses empty keys and keys with a NUL character"
            ));
        }
        if key == CREATED_MARKER || (is_node && key == "id") {
            return Err(format!(
                "property key {key:?} is reserved (a node's id is set by the id argument)"
            ));
        }
        value.check(key)?;
    }
    Ok(())
}

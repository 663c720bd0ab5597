//! `CypherValue`: a parameter of a statement run through
//! [`CypherSession`](crate::CypherSession).

use std::collections::{BTreeMap, HashMap};

use bolt_client::bolt_proto::Value;

use crate::property::{Properties, PropertyValue};

/// Named parameters of one statement (`$name` in its text).
pub type CypherParams = BTreeMap<String, CypherValue>;

/// A Cypher parameter value: what a property holds, plus null and maps,
/// which `UNWIND $rows AS row` needs for its rows (`row.from`,
/// `row.props`). Values always travel as parameters, never as query text.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CypherValue {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    String(String),
    /// A list, of any values.
    List(Vec<CypherValue>),
    /// A map from keys to any values.
    Map(BTreeMap<String, CypherValue>),
}

impl CypherValue {
    /// The value as Bolt sends it, moved (a batch's rows are large).
    pub(crate) fn into_bolt(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Boolean(b),
            Self::Int(i) => Value::Integer(i),
            Self::Float(f) => Value::Float(f),
            Self::String(s) => Value::String(s),
            Self::List(items) => Value::List(items.into_iter().map(Self::into_bolt).collect()),
            Self::Map(map) => Value::Map(
                map.into_iter()
                    .map(|(k, v)| (k, v.into_bolt()))
                    .collect::<HashMap<_, _>>(),
            ),
        }
    }
}

/// Parameters as Bolt sends them.
pub(crate) fn params_to_bolt(params: CypherParams) -> HashMap<String, Value> {
    params
        .into_iter()
        .map(|(k, v)| (k, v.into_bolt()))
        .collect()
}

impl From<PropertyValue> for CypherValue {
    fn from(v: PropertyValue) -> Self {
        match v {
            PropertyValue::Bool(b) => Self::Bool(b),
            PropertyValue::Int(i) => Self::Int(i),
            PropertyValue::Float(f) => Self::Float(f),
            PropertyValue::String(s) => Self::String(s),
            PropertyValue::List(items) => Self::List(items.into_iter().map(Self::from).collect()),
        }
    }
}

/// Properties become a map (`SET r += row.props`).
impl From<Properties> for CypherValue {
    fn from(props: Properties) -> Self {
        Self::Map(props.into_iter().map(|(k, v)| (k, v.into())).collect())
    }
}

impl From<BTreeMap<String, CypherValue>> for CypherValue {
    fn from(map: BTreeMap<String, CypherValue>) -> Self {
        Self::Map(map)
    }
}

impl<const N: usize> From<[(&str, CypherValue); N]> for CypherValue {
    fn from(fields: [(&str, CypherValue); N]) -> Self {
        Self::Map(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

impl From<Vec<CypherValue>> for CypherValue {
    fn from(items: Vec<CypherValue>) -> Self {
        Self::List(items)
    }
}

crate::property::from_scalars!(CypherValue);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_bolt_maps_and_properties_keep_their_kind() {
        let row = CypherValue::from([
            ("from", "doc-1".into()),
            ("i", 0.into()),
            (
                "props",
                Properties::from([("order".to_owned(), 3.into())]).into(),
            ),
            ("gone", CypherValue::Null),
        ]);
        let Value::Map(map) = row.into_bolt() else {
            panic!("a map");
        };
        assert_eq!(map["from"], Value::String("doc-1".into()));
        assert_eq!(map["i"], Value::Integer(0));
        assert_eq!(map["gone"], Value::Null);
        let Value::Map(props) = &map["props"] else {
            panic!("props is a map");
        };
        assert_eq!(props["order"], Value::Integer(3));
    }
}

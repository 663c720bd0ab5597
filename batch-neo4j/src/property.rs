//! `PropertyValue`: the values Neo4j can store on a node or relationship.

use std::collections::{BTreeMap, HashMap};

use bolt_client::bolt_proto::Value;

/// Properties of a node or relationship, by key. Keys travel as data inside
/// a query parameter, never as query text, so any key is safe.
pub type Properties = BTreeMap<String, PropertyValue>;

/// A value Neo4j can store as a property: a scalar or a list of scalars of
/// one kind. Maps, nulls and nested lists cannot be stored; lists are
/// checked when an item is added.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum PropertyValue {
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string.
    String(String),
    /// A homogeneous list of scalars.
    List(Vec<PropertyValue>),
}

impl PropertyValue {
    fn kind(&self) -> &'static str {
        match self {
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::String(_) => "string",
            Self::List(_) => "list",
        }
    }

    /// Checks that a list holds scalars of one kind (what Neo4j stores).
    pub(crate) fn check(&self, key: &str) -> Result<(), String> {
        let Self::List(items) = self else {
            return Ok(());
        };
        let Some(first) = items.first() else {
            return Ok(());
        };
        for item in items {
            if matches!(item, Self::List(_)) {
                return Err(format!(
                    "property {key:?}: nested lists cannot be stored in Neo4j"
                ));
            }
            if item.kind() != first.kind() {
                return Err(format!(
                    "property {key:?}: a list must hold one kind of value, found {} and {}",
                    first.kind(),
                    item.kind()
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn to_bolt(&self) -> Value {
        match self {
            Self::Bool(b) => Value::Boolean(*b),
            Self::Int(i) => Value::Integer(*i),
            Self::Float(f) => Value::Float(*f),
            Self::String(s) => Value::String(s.clone()),
            Self::List(items) => Value::List(items.iter().map(Self::to_bolt).collect()),
        }
    }
}

/// A value read back from the server, if it is one a property can hold.
pub(crate) fn from_bolt(value: &Value) -> Option<PropertyValue> {
    Some(match value {
        Value::Boolean(b) => PropertyValue::Bool(*b),
        Value::Integer(i) => PropertyValue::Int(*i),
        Value::Float(f) => PropertyValue::Float(*f),
        Value::String(s) => PropertyValue::String(s.clone()),
        Value::List(items) => PropertyValue::List(items.iter().filter_map(from_bolt).collect()),
        _ => return None,
    })
}

pub(crate) fn properties_to_bolt(props: &Properties) -> Value {
    Value::Map(
        props
            .iter()
            .map(|(k, v)| (k.clone(), v.to_bolt()))
            .collect::<HashMap<_, _>>(),
    )
}

/// `From` every scalar Rust type for `$value`'s `Bool`, `Int`, `Float`
/// and `String` variants: [`PropertyValue`] and `CypherValue` take the
/// same ones.
macro_rules! from_scalars {
    ($value:ty) => {
        $crate::property::from_scalars!($value, Bool: bool);
        $crate::property::from_scalars!($value, Int: i8, i16, i32, i64, u8, u16, u32);
        $crate::property::from_scalars!($value, Float: f32, f64);
        $crate::property::from_scalars!($value, String: String, &str);
    };
    ($value:ty, $variant:ident: $($t:ty),*) => {$(
        impl From<$t> for $value {
            fn from(v: $t) -> Self {
                Self::$variant(v.into())
            }
        }
    )*};
}
pub(crate) use from_scalars;

from_scalars!(PropertyValue);

impl<T: Into<PropertyValue>> From<Vec<T>> for PropertyValue {
    fn from(v: Vec<T>) -> Self {
        Self::List(v.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::PropertyValue;

    #[test]
    fn lists_must_be_flat_and_homogeneous() {
        assert!(PropertyValue::from(vec![1, 2]).check("k").is_ok());
        assert!(PropertyValue::from(Vec::<i64>::new()).check("k").is_ok());
        let mixed = PropertyValue::List(vec![1.into(), "a".into()]);
        assert!(mixed.check("k").unwrap_err().contains("one kind"));
        let nested = PropertyValue::List(vec![vec![1].into()]);
        assert!(nested.check("k").unwrap_err().contains("nested"));
    }
}

//! Record metadata: the four scalar kinds Chroma stores, so that null and
//! nested values (which the server answers with 422) cannot be built.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ChromaError;

/// Metadata of one record: key to scalar value.
pub type Metadata = BTreeMap<String, MetadataValue>;

/// One metadata value. Chroma accepts strings, integers, floats and
/// booleans; `null`, objects and (for UDS3 compatibility) lists are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetadataValue {
    /// A string.
    Str(String),
    /// A 64-bit integer.
    Int(i64),
    /// A finite float (NaN and infinity are refused on `add`).
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for MetadataValue {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for MetadataValue {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}
impl From<i64> for MetadataValue {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for MetadataValue {
    fn from(v: i32) -> Self {
        Self::Int(v.into())
    }
}
impl From<u32> for MetadataValue {
    fn from(v: u32) -> Self {
        Self::Int(v.into())
    }
}
impl From<f64> for MetadataValue {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}
impl From<f32> for MetadataValue {
    fn from(v: f32) -> Self {
        Self::Float(v.into())
    }
}
impl From<bool> for MetadataValue {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

/// Builds [`Metadata`] from `(key, value)` pairs:
/// `metadata([("doc_id", "d1".into()), ("chunk_index", 3.into())])`.
pub fn metadata<K: Into<String>>(pairs: impl IntoIterator<Item = (K, MetadataValue)>) -> Metadata {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

/// Converts a JSON object (UDS3's `Dict[str, Any]`) to [`Metadata`], with a
/// clear error naming the first key whose value is null, nested, an array,
/// or an integer outside `i64`.
pub fn metadata_from_json(value: serde_json::Value) -> Result<Metadata, ChromaError> {
    let serde_json::Value::Object(map) = value else {
        return Err(ChromaError::Invalid(format!(
            "metadata must be a JSON object, got {}",
            json_kind(&value)
        )));
    };
    map.into_iter()
        .map(|(key, value)| {
            let converted = match value {
                serde_json::Value::String(s) => MetadataValue::Str(s),
                serde_json::Value::Bool(b) => MetadataValue::Bool(b),
                serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                    (Some(i), _) => MetadataValue::Int(i),
                    (None, Some(f)) if n.is_f64() => MetadataValue::Float(f),
                    _ => {
                        return Err(ChromaError::Invalid(format!(
                            "metadata {key:?}: integer {n} does not fit in i64"
                        )));
                    }
                },
                other => {
                    return Err(ChromaError::Invalid(format!(
                        "metadata {key:?}: Chroma stores only string, integer, float or boolean values, got {}",
                        json_kind(&other)
                    )));
                }
            };
            Ok((key, converted))
        })
        .collect()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_scalars_convert() {
        let m =
            metadata_from_json(serde_json::json!({"s": "x", "i": 3, "f": 1.5, "b": true})).unwrap();
        assert_eq!(m["s"], MetadataValue::Str("x".into()));
        assert_eq!(m["i"], MetadataValue::Int(3));
        assert_eq!(m["f"], MetadataValue::Float(1.5));
        assert_eq!(m["b"], MetadataValue::Bool(true));
    }

    #[test]
    fn null_nested_and_huge_are_refused_with_the_key() {
        for (json, needle) in [
            (serde_json::json!({"k": null}), "null"),
            (serde_json::json!({"k": {"a": 1}}), "an object"),
            (serde_json::json!({"k": [1]}), "an array"),
            (serde_json::json!({"k": u64::MAX}), "does not fit"),
        ] {
            let err = metadata_from_json(json).unwrap_err().to_string();
            assert!(err.contains("\"k\"") && err.contains(needle), "{err}");
        }
        assert!(metadata_from_json(serde_json::json!([1])).is_err());
    }
}

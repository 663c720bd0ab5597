//! Checks a record before any round trip. The server checks little (and
//! silently drops `chroma:` keys), so the client refuses bad records with a
//! clear error of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::ChromaError;
use crate::metadata::MetadataValue;
use crate::record::ChromaRecord;

/// The record checks of one collection, shared by the inserter (which
/// refuses bad records in `add`) and the sink (for callers that use the
/// sink directly). Cloning shares the learned dimension.
///
/// The dimension is only learned from the server: the collection's own
/// when it was opened, or that of the first batch the server accepted. A
/// record the server refuses (for whatever reason) must not lock the
/// collection to its dimension.
#[derive(Debug, Clone, Default)]
pub struct RecordValidator {
    /// The collection's dimension; 0 while unknown.
    dimension: Arc<AtomicUsize>,
}

impl RecordValidator {
    /// A validator for a collection of `dimension` (from the server), or
    /// one that learns it from the first batch the server accepts when
    /// `None` (until then any dimension passes).
    pub fn new(dimension: Option<usize>) -> Self {
        Self {
            dimension: Arc::new(AtomicUsize::new(dimension.unwrap_or(0))),
        }
    }

    /// The dimension every record must have, once known.
    pub fn dimension(&self) -> Option<usize> {
        match self.dimension.load(Ordering::Acquire) {
            0 => None,
            d => Some(d),
        }
    }

    /// Checks `record`: non-empty id, non-empty finite embedding of the
    /// collection's dimension (once known), metadata keys that Chroma
    /// keeps, finite floats.
    pub fn check(&self, record: &ChromaRecord) -> Result<(), ChromaError> {
        let id = &record.id;
        let invalid = |msg: String| Err(ChromaError::Invalid(format!("record {id:?}: {msg}")));
        if id.is_empty() {
            return invalid("the id is empty".into());
        }
        let len = record.embedding.len();
        if len == 0 {
            return invalid("the embedding is empty".into());
        }
        if let Some(i) = record.embedding.iter().position(|x| !x.is_finite()) {
            return invalid(format!(
                "embedding value {} at index {i} is not finite",
                record.embedding[i]
            ));
        }
        for (key, value) in &record.metadata {
            if key.is_empty() || key.starts_with('#') || key.starts_with("chroma:") {
                return invalid(format!(
                    "metadata key {key:?} is reserved by Chroma (empty, '#...' or 'chroma:...')"
                ));
            }
            if let MetadataValue::Float(f) = value
                && !f.is_finite()
            {
                return invalid(format!("metadata {key:?} is {f}, not a finite number"));
            }
        }
        self.check_dimension(record)
    }

    /// Checks only the dimension, once known: a record added while it was
    /// unknown may meet a batch the server accepted with another one.
    pub(crate) fn check_dimension(&self, record: &ChromaRecord) -> Result<(), ChromaError> {
        let len = record.embedding.len();
        match self.dimension() {
            Some(expected) if expected != len => Err(ChromaError::Invalid(format!(
                "record {:?}: embedding has {len} dimensions, the collection has {expected}",
                record.id
            ))),
            _ => Ok(()),
        }
    }

    /// Records `dimension` as the collection's after the server accepted a
    /// batch of it; a dimension already known is kept.
    pub(crate) fn learn(&self, dimension: usize) {
        // A lost race means another batch was accepted first: the server
        // refuses any other dimension, so both are the same.
        let _ = self
            .dimension
            .compare_exchange(0, dimension, Ordering::AcqRel, Ordering::Acquire);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::metadata;

    fn rec(id: &str, embedding: Vec<f32>) -> ChromaRecord {
        ChromaRecord::new(id, embedding, Default::default())
    }

    #[test]
    fn only_an_accepted_batch_fixes_the_dimension() {
        let v = RecordValidator::new(None);
        v.check(&rec("a", vec![1.0, 2.0])).unwrap();
        v.check(&rec("b", vec![1.0])).unwrap();
        assert_eq!(v.dimension(), None, "checking learns nothing");
        v.learn(2);
        v.learn(3);
        assert_eq!(v.dimension(), Some(2), "the first accepted dimension stays");
        let err = v.check(&rec("b", vec![1.0])).unwrap_err().to_string();
        assert!(
            err.contains("\"b\"") && err.contains("1 dimensions") && err.contains("has 2"),
            "{err}"
        );
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        let v = RecordValidator::new(Some(2));
        for (record, needle) in [
            (rec("", vec![1.0, 2.0]), "id is empty"),
            (rec("a", vec![]), "embedding is empty"),
            (rec("a", vec![f32::NAN, 1.0]), "not finite"),
            (rec("a", vec![1.0, f32::INFINITY]), "not finite"),
            (
                ChromaRecord::new("a", vec![1.0, 2.0], metadata([("chroma:x", 1.into())])),
                "reserved",
            ),
            (
                ChromaRecord::new("a", vec![1.0, 2.0], metadata([("x", f64::NAN.into())])),
                "finite number",
            ),
        ] {
            let err = v.check(&record).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
        // A refused record does not change the dimension.
        assert_eq!(v.dimension(), Some(2));
    }
}

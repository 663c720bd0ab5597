//! The JSON body of an `/add` or `/upsert` request, and an upper bound of
//! one record's share of it (for batch-core's byte limit).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::metadata::{Metadata, MetadataValue};
use crate::record::ChromaRecord;

/// How embeddings travel: base64 of little-endian f32 (about 3.8 times
/// smaller and the fastest form measured on Chroma 1.5.9), or JSON float
/// arrays for servers without base64 support. One request never mixes the
/// two (the server answers 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingEncoding {
    /// `"embeddings": ["<base64>", ...]`.
    Base64,
    /// `"embeddings": [[0.1, ...], ...]`.
    JsonFloats,
}

/// Serializes the records `rows` of `records` as one request body.
pub(crate) fn encode<'a>(
    records: &'a [ChromaRecord],
    rows: &[usize],
    encoding: EmbeddingEncoding,
) -> Result<Vec<u8>, serde_json::Error> {
    let pick = || rows.iter().map(|&i| &records[i]);
    let body = Body {
        ids: Column(pick, |r: &'a ChromaRecord| r.id.as_str()),
        embeddings: Embeddings {
            rows: pick,
            encoding,
        },
        metadatas: Column(pick, |r: &'a ChromaRecord| {
            (!r.metadata.is_empty()).then_some(&r.metadata)
        }),
        documents: Column(pick, |r: &'a ChromaRecord| r.document.as_deref()),
    };
    let mut out = Vec::with_capacity(
        rows.iter()
            .map(|&i| upper_bound(&records[i]))
            .sum::<usize>()
            + 64,
    );
    serde_json::to_writer(&mut out, &body)?;
    Ok(out)
}

#[derive(serde::Serialize)]
struct Body<A, B, C, D> {
    ids: A,
    embeddings: B,
    metadatas: C,
    documents: D,
}

/// A JSON array of one field of each picked record.
struct Column<P, F>(P, F);

impl<'a, P, I, F, T> Serialize for Column<P, F>
where
    P: Fn() -> I,
    I: ExactSizeIterator<Item = &'a ChromaRecord>,
    F: Fn(&'a ChromaRecord) -> T,
    T: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rows = (self.0)();
        let mut seq = s.serialize_seq(Some(rows.len()))?;
        for r in rows {
            seq.serialize_element(&(self.1)(r))?;
        }
        seq.end()
    }
}

struct Embeddings<P> {
    rows: P,
    encoding: EmbeddingEncoding,
}

impl<'a, P, I> Serialize for Embeddings<P>
where
    P: Fn() -> I,
    I: ExactSizeIterator<Item = &'a ChromaRecord>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rows = (self.rows)();
        let mut seq = s.serialize_seq(Some(rows.len()))?;
        let mut text = String::new();
        for r in rows {
            match self.encoding {
                EmbeddingEncoding::Base64 => {
                    text.clear();
                    base64_f32_le(&r.embedding, &mut text);
                    seq.serialize_element(text.as_str())?;
                }
                EmbeddingEncoding::JsonFloats => seq.serialize_element(&r.embedding)?,
            }
        }
        seq.end()
    }
}

/// Standard padded base64 of the little-endian bytes of `values`, appended
/// to `out` (the `base64` crate's encoder; one byte buffer per record).
pub(crate) fn base64_f32_le(values: &[f32], out: &mut String) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode_string(&bytes, out);
}

/// Longest JSON text of one f32 (serde_json writes f32 with ryu: at most
/// 16 characters) plus its comma.
const MAX_F32_JSON: usize = 17;

/// An upper bound of one record's bytes in a request body, whichever
/// embedding encoding is used: ids, metadata and documents are measured
/// exactly (JSON escapes included), the embedding at its JSON-float bound
/// (which is larger than its base64 form).
pub(crate) fn upper_bound(record: &ChromaRecord) -> usize {
    let embedding = 2 + record.embedding.len() * MAX_F32_JSON;
    let document = record.document.as_deref().map_or(4, json_string_len);
    // Four array separators.
    json_string_len(&record.id) + embedding + metadata_len(&record.metadata) + document + 4
}

fn metadata_len(metadata: &Metadata) -> usize {
    if metadata.is_empty() {
        return 4; // null
    }
    2 + metadata
        .iter()
        .map(|(k, v)| {
            json_string_len(k)
                + 2
                + match v {
                    MetadataValue::Str(s) => json_string_len(s),
                    MetadataValue::Int(_) => 20,
                    MetadataValue::Float(_) => 24,
                    MetadataValue::Bool(_) => 5,
                }
        })
        .sum::<usize>()
}

/// Exact length of `s` as a JSON string, as serde_json escapes it.
fn json_string_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::metadata;

    #[test]
    fn embeddings_are_base64_of_little_endian_f32() {
        let mut text = String::new();
        base64_f32_le(&[1.0, -2.5], &mut text);
        // 1.0 = 00 00 80 3f, -2.5 = 00 00 20 c0 (little-endian IEEE 754).
        assert_eq!(text, "AACAPwAAIMA=");
        base64_f32_le(&[], &mut text);
        assert_eq!(text, "AACAPwAAIMA=", "appends nothing for no values");
    }

    #[test]
    fn upper_bound_is_not_below_either_encoding() {
        let records = vec![
            ChromaRecord::new(
                "id \"quoted\"\n\u{1}",
                vec![-1.175_494_4e-38, f32::MAX, -f32::MIN_POSITIVE, 0.1],
                metadata([
                    ("s", "ä\"\\".into()),
                    ("i", i64::MIN.into()),
                    ("f", (-1.234_567_890_123e-300).into()),
                    ("b", false.into()),
                ]),
            )
            .with_document("doc\t\u{7f}"),
            ChromaRecord::new("x", vec![0.0; 384], Metadata::new()),
        ];
        for encoding in [EmbeddingEncoding::Base64, EmbeddingEncoding::JsonFloats] {
            for i in 0..records.len() {
                let one = encode(&records, &[i], encoding).unwrap().len();
                // The envelope (keys and brackets) is not part of the bound.
                let envelope = r#"{"ids":[],"embeddings":[],"metadatas":[],"documents":[]}"#.len();
                assert!(
                    upper_bound(&records[i]) + envelope >= one,
                    "{encoding:?} {i}"
                );
            }
        }
    }

    #[test]
    fn body_has_one_form_and_nulls_for_missing_parts() {
        let records = vec![
            ChromaRecord::new("a", vec![1.0, 2.0], Metadata::new()),
            ChromaRecord::new("b", vec![3.0, 4.5], metadata([("k", 1.into())])).with_document("d"),
        ];
        let body = encode(&records, &[1, 0], EmbeddingEncoding::JsonFloats).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"ids":["b","a"],"embeddings":[[3.0,4.5],[1.0,2.0]],"metadatas":[{"k":1},null],"documents":["d",null]}"#
        );
        let body = encode(&records, &[0], EmbeddingEncoding::Base64).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"ids":["a"],"embeddings":["AACAPwAAAEA="],"metadatas":[null],"documents":[null]}"#
        );
    }
}

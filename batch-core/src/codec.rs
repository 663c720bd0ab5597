//! `Codec`: how a sink's items are written to the durable buffer and read
//! back. JSON through serde: stable across releases of this library and of
//! the item types (a field added with `#[serde(default)]` still reads an
//! older buffer), readable by a person inspecting a dead letter, and the
//! one format every backend's items already have a serde shape for.

/// Encodes and decodes one sink's items for the durable buffer
/// ([`Sink::codec`](crate::Sink::codec)). Made with [`Codec::json`]
/// (feature `durable`).
pub struct Codec<T> {
    pub(crate) encode: fn(&T) -> Result<Vec<u8>, String>,
    #[cfg_attr(not(feature = "durable"), allow(dead_code))]
    pub(crate) decode: fn(&[u8]) -> Result<T, String>,
}

impl<T> Clone for Codec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Codec<T> {}

impl<T> std::fmt::Debug for Codec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Codec(json)")
    }
}

#[cfg(feature = "durable")]
impl<T: serde::Serialize + serde::de::DeserializeOwned> Codec<T> {
    /// Items as JSON documents (serde_json).
    pub fn json() -> Self {
        Self {
            encode: |item| serde_json::to_vec(item).map_err(|e| e.to_string()),
            decode: |bytes| serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        }
    }
}

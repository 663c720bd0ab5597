//! Shared set-up of the tests: the real Chroma server from `UDS3_CHROMA_URL`
//! and a fresh collection per test.
#![allow(dead_code)]

#[cfg(feature = "tls")]
pub mod tls;

use batch_chroma::{ChromaClient, Collection, Metadata, metadata};
use test_support::test_servers::{self, Service};

/// The client for the test server (`UDS3_CHROMA_URL`); fails with the
/// `cargo xtask services up` hint if it does not answer.
pub fn client() -> ChromaClient {
    let url = test_servers::require(Service::Chroma);
    ChromaClient::new(&url).expect("UDS3_CHROMA_URL")
}

/// The `l2` collection `name`, created if missing.
pub fn collection(name: &str) -> Collection {
    client()
        .get_or_create_collection(name, &metadata([("hnsw:space", "l2".into())]))
        .expect("create collection")
}

/// A new, empty `l2` collection named `{prefix}-{unique}`.
pub fn fresh_collection(prefix: &str) -> Collection {
    collection(&test_servers::unique_name(prefix))
}

/// A deterministic vector of `dim` floats with unrepresentable-in-decimal
/// values (to catch any lossy float round trip).
pub fn vector(seed: usize, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|j| {
            let x = (seed * 7919 + j * 104_729) as f32;
            (x * 0.000_123_456_7).sin() / 3.0
        })
        .collect()
}

/// Metadata of record `i`.
pub fn meta(i: usize) -> Metadata {
    metadata([
        ("doc_id", format!("doc-{}", i / 10).into()),
        ("chunk_index", (i as i64).into()),
        ("score", (i as f64 / 7.0).into()),
        ("even", i.is_multiple_of(2).into()),
    ])
}

/// Chroma for the conformance kit (`test_support::kit`): a fresh
/// collection, records with 8-dimensional vectors, the collection's count.
pub struct Chroma;

impl test_support::kit::Backend for Chroma {
    type Sink = batch_chroma::ChromaSink;
    type Inserter = batch_chroma::ChromaBatchInserter;
    type Target = Collection;
    const SERVICE: Service = Service::Chroma;

    fn fresh(prefix: &str) -> Collection {
        fresh_collection(prefix)
    }

    fn inserter(target: &Collection, settings: batch_core::BatcherSettings) -> Self::Inserter {
        batch_chroma::ChromaBatchInserter::with_settings(target.clone(), settings)
            .expect("inserter")
    }

    fn inserter_with_timeout(
        target: &Collection,
        settings: batch_core::BatcherSettings,
        timeout: std::time::Duration,
    ) -> Self::Inserter {
        let collection = ChromaClient::builder(&test_servers::require(Service::Chroma))
            .timeout(timeout)
            .build()
            .expect("client")
            .get_or_create_collection(target.name(), &Metadata::new())
            .expect("reopen the collection");
        Self::inserter(&collection, settings)
    }

    fn batcher(inserter: &Self::Inserter) -> &batch_core::Batcher<Self::Sink> {
        inserter.batcher()
    }

    fn item(_: &Self::Target, prefix: &str, i: usize) -> batch_chroma::ChromaRecord {
        batch_chroma::ChromaRecord::new(format!("{prefix}{i}"), vector(i, 8), meta(i))
    }

    /// NaN in the vector (even `i`) or an empty id (odd).
    fn invalid_item(target: &Collection, prefix: &str, i: usize) -> batch_chroma::ChromaRecord {
        let mut record = Self::item(target, prefix, i);
        if i.is_multiple_of(2) {
            record.embedding[3] = f32::NAN;
        } else {
            record.id.clear();
        }
        record
    }

    fn count(target: &Collection) -> u64 {
        target.count().expect("count")
    }
}

impl test_support::kit::reading::Readable for Chroma {
    type Source = Collection;

    fn source(target: &Collection) -> Collection {
        target.clone()
    }

    fn assert_read_back(record: &batch_chroma::ChromaRecord, i: usize) {
        assert_eq!(record.embedding, vector(i, 8), "exact f32 round trip");
        assert_eq!(record.metadata, meta(i));
    }
}

impl test_support::kit::durable::Durable for Chroma {
    fn name(target: &Collection) -> String {
        target.name().to_owned()
    }

    fn named(name: &str) -> Collection {
        collection(name)
    }

    fn remove(target: &Collection) {
        let _ = client().delete_collection(target.name());
    }
}

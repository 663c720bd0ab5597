//! Chroma reached over TLS, for the kit's TLS matrix and restart: a
//! client whose `build` reads the CA file.

use std::path::Path;
use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaClient, Collection, metadata};
use batch_core::BatcherSettings;
use test_support::kit::tls::{Refusal, TlsBackend, trusting};

impl TlsBackend for super::Chroma {
    fn inserter_via(
        url: &str,
        ca: Option<&Path>,
        target: &Collection,
        settings: BatcherSettings,
    ) -> Result<ChromaBatchInserter, Refusal> {
        let client = ChromaClient::builder(url)
            .tls(trusting(ca))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Refusal::of(&e))?;
        let collection = client
            .get_or_create_collection(target.name(), &metadata([("hnsw:space", "l2".into())]))
            .map_err(|e| Refusal::of(&e))?;
        Ok(ChromaBatchInserter::with_settings(collection, settings).expect("inserter"))
    }
}

//! `https://` through the test servers' TLS front end: the kit's TLS
//! matrix (`test_support::kit::tls`), Chroma reached through a client
//! whose `build` reads the CA file.

#![cfg(feature = "tls")]

mod common;

use std::path::Path;
use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaClient, Collection, metadata};
use batch_core::BatcherSettings;
use batch_core::tls::TlsSettings;
use test_support::kit::tls::{Refusal, TlsBackend};
use test_support::test_servers::Service;

impl TlsBackend for common::Chroma {
    const SERVICE: Service = Service::Chroma;

    fn inserter_via(
        url: &str,
        ca: Option<&Path>,
        target: &Collection,
        settings: BatcherSettings,
    ) -> Result<ChromaBatchInserter, Refusal> {
        let trust = ca.map_or_else(TlsSettings::new, |ca| {
            TlsSettings::new().public_roots(false).ca_file(ca)
        });
        let client = ChromaClient::builder(url)
            .tls(trust)
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Refusal::of(&e))?;
        let collection = client
            .get_or_create_collection(target.name(), &metadata([("hnsw:space", "l2".into())]))
            .map_err(|e| Refusal::of(&e))?;
        Ok(ChromaBatchInserter::with_settings(collection, settings).expect("inserter"))
    }
}

test_support::tls_matrix!(common::Chroma);

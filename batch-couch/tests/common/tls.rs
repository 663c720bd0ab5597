//! CouchDB reached over TLS, for the kit's TLS matrix and restart: a
//! database handle that reads its CA file at the first request.

use std::path::Path;
use std::time::Duration;

use batch_core::BatcherSettings;
use batch_couch::{CouchDBBatchInserter, CouchDatabase};
use test_support::kit::tls::{Refusal, TlsBackend, trusting};

/// The database `name` through the server at `url`, trusting `ca` alone
/// (the public roots alone when `None`).
pub fn db_via(url: &str, ca: Option<&Path>, name: &str) -> CouchDatabase {
    CouchDatabase::with_timeout(url, name, Duration::from_secs(10))
        .expect("valid URL")
        .tls(trusting(ca))
}

impl TlsBackend for super::Couch {
    fn inserter_via(
        url: &str,
        ca: Option<&Path>,
        target: &CouchDatabase,
        settings: BatcherSettings,
    ) -> Result<CouchDBBatchInserter, Refusal> {
        let db = db_via(url, ca, target.name());
        Ok(CouchDBBatchInserter::with_settings(db, settings).expect("inserter"))
    }
}

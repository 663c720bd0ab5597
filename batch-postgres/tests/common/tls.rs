//! PostgreSQL reached with `sslmode=verify-full`, for the kit's TLS
//! matrix and restart: `sslrootcert` replaces the public roots, as in
//! libpq (`system` means them); the inserter connects when it is made.

use std::path::Path;

use batch_core::BatcherSettings;
use batch_postgres::{Connector, PostgreSQLBatchInserter, TableName};
use test_support::kit::tls::{Refusal, TlsBackend};
use test_support::test_servers::TlsEndpoint;

/// The TLS URL asking for `sslmode=mode`.
pub fn url(ep: &TlsEndpoint, mode: &str) -> String {
    let base = ep.url.split_once('?').map_or(ep.url.as_str(), |(b, _)| b);
    format!("{base}?sslmode={mode}")
}

impl TlsBackend for super::Postgres {
    fn url(ep: &TlsEndpoint) -> String {
        url(ep, "verify-full")
    }

    fn inserter_via(
        url: &str,
        ca: Option<&Path>,
        target: &TableName,
        settings: BatcherSettings,
    ) -> Result<PostgreSQLBatchInserter, Refusal> {
        let root = ca.map_or_else(|| "system".into(), |ca| ca.display().to_string());
        let connector = Connector::from_url(&format!("{url}&sslrootcert={root}"))
            .map_err(|e| Refusal::of(&e))?;
        PostgreSQLBatchInserter::with_table(connector, target.clone(), settings)
            .map_err(|e| Refusal::of(&e))
    }
}

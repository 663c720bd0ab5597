//! Neo4j reached over `bolt+s`, for the kit's TLS matrix and restart: a
//! creator that connects when it is made.

use std::path::Path;
use std::time::Duration;

use batch_core::BatcherSettings;
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};
use test_support::kit::tls::{Refusal, TlsBackend, trusting};
use test_support::test_servers::{self, Endpoints};

/// A config for `uri` with the test credentials and default trust.
pub fn config_for(uri: &str) -> Neo4jConfig {
    let e = Endpoints::from_env();
    Neo4jConfig::new(uri, e.neo4j_user, e.neo4j_password)
        .expect("valid test URI")
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
        .timeout(Duration::from_secs(20))
}

impl TlsBackend for super::Neo4j {
    const TLS_SCHEME: &'static str = "bolt+s://";

    fn plaintext(uri: &str) -> String {
        uri.replacen("bolt+s://", "bolt://", 1)
    }

    fn inserter_via(
        uri: &str,
        ca: Option<&Path>,
        _label: &String,
        settings: BatcherSettings,
    ) -> Result<Neo4jBatchCreator, Refusal> {
        Neo4jBatchCreator::with_settings(config_for(uri).tls(trusting(ca)), settings)
            .map_err(|e| Refusal::of(&e))
    }
}

//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a configuration with a password shows it neither in `Debug`
//! nor in the message of a failed connection, and a URI with credentials
//! is refused without showing them.

use batch_neo4j::{Neo4jConfig, Neo4jSink};
use test_support::secrets::{PASSWORD, assert_error_hides, assert_hidden, assert_refusals_hide};

#[test]
fn the_password_is_masked() {
    for config in [
        Neo4jConfig::new("bolt://127.0.0.1:1", "neo4j", PASSWORD),
        Neo4jConfig::from_env("neo4j://127.0.0.1:1?policy=eu", "neo4j", PASSWORD),
    ] {
        let config = config.expect("config");
        assert_hidden(&format!("{config:?}"), &[PASSWORD]);
        // Nothing listens on port 1: the refused connection's error.
        let err = Neo4jSink::connect(config).expect_err("nothing listens");
        assert_error_hides(&err, &[PASSWORD]);
    }
    // Credentials belong in Neo4jConfig::new, never in the URI.
    let refused = [
        format!("root:{PASSWORD}@127.0.0.1:7687"),
        format!("bolt://root:{PASSWORD}@127.0.0.1:7687"),
        format!("bolt://root:pa/{PASSWORD}@127.0.0.1:7687"),
        format!("bolt+tls://root:{PASSWORD}@127.0.0.1:7687"),
        format!("bolt://root:{PASSWORD}@"),
    ];
    assert_refusals_hide(&refused, Some("root:***@"), |uri| {
        Neo4jConfig::new(uri, "neo4j", "pw")
    });
}

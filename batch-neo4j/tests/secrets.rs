//! Secrets stay out of what the library shows (issue 32), no server
//! needed: a configuration with a password shows it neither in `Debug`
//! nor in the message of a failed connection, and a URI with credentials
//! is refused without showing them.

use batch_neo4j::{Neo4jConfig, Neo4jSink};

const PASSWORD: &str = "pw-S3cret";

fn assert_hidden(shown: &str) {
    assert!(!shown.contains(PASSWORD), "the password shows in {shown}");
}

#[test]
fn the_password_is_masked() {
    for config in [
        Neo4jConfig::new("bolt://127.0.0.1:1", "neo4j", PASSWORD),
        Neo4jConfig::from_env("neo4j://127.0.0.1:1?policy=eu", "neo4j", PASSWORD),
    ] {
        let config = config.expect("config");
        assert_hidden(&format!("{config:?}"));
        // Nothing listens on port 1: the refused connection's error.
        let err = Neo4jSink::connect(config).expect_err("nothing listens");
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
    }
    for refused in [
        format!("root:{PASSWORD}@127.0.0.1:7687"),
        format!("bolt://root:{PASSWORD}@127.0.0.1:7687"),
        format!("bolt://root:pa/{PASSWORD}@127.0.0.1:7687"),
        format!("bolt+tls://root:{PASSWORD}@127.0.0.1:7687"),
        format!("bolt://root:{PASSWORD}@"),
    ] {
        let err = Neo4jConfig::new(&refused, "neo4j", "pw").expect_err(&refused);
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
        assert!(err.to_string().contains("root:***@"), "{err}");
    }
}

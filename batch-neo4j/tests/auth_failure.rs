//! Bad credentials are fatal: no retry and no bisection can fix them, so a
//! batch comes back whole once a login is refused, with a message that names
//! the server and its code but never the password.
//!
//! "Wrong password on reconnect" is built with Neo4j's user administration
//! (`CREATE USER`, `ALTER USER`, `dbms.killConnection`; Neo4j routes them
//! to the system database): the creator connects as a user of its own, the
//! test changes that user's password and closes the creator's connection.
//! Neo4j checks credentials at HELLO only, so a live connection would keep
//! working (ArcadeDB, the earlier test server, revoked it at once). The
//! lost connection costs one retry (transient); the new connection's HELLO
//! is refused, and that is fatal: the batch comes back whole.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use batch_core::{BatcherSettings, ErrorClass, Fallback, SinkError};
use batch_neo4j::{Neo4jBatchCreator, Neo4jError};
use common::{config_as, create_user, drop_user, kill_connections_of, set_password, unique};
use test_support::test_servers;

const OLD_PASSWORD: &str = "old-secret-4711";
const NEW_PASSWORD: &str = "new-secret-0815";

fn assert_names_auth_failure_not_password(error: &Neo4jError, addr: &str, user: &str) {
    let text = error.to_string();
    assert!(text.contains(&format!("user {user:?}")), "{text}");
    assert_eq!(error.class(), ErrorClass::Fatal, "{text}");
    assert!(
        text.contains("Neo.ClientError.Security.Unauthorized"),
        "{text}"
    );
    assert!(text.contains(addr), "{text}");
    for password in [OLD_PASSWORD, NEW_PASSWORD] {
        assert!(!text.contains(password), "{text}");
    }
}

#[test]
fn a_password_changed_under_a_live_creator_fails_the_batch_at_the_next_login() {
    let user = unique("u");
    create_user(&user, OLD_PASSWORD);
    let graph = config_as(&user, OLD_PASSWORD);
    let addr = graph.addr().to_owned();
    let creator = Neo4jBatchCreator::with_settings(
        graph,
        BatcherSettings::builder()
            .batch_size(16)
            .fallback(Fallback::Bisect)
            .build()
            .unwrap(),
    )
    .unwrap();

    set_password(&user, NEW_PASSWORD);
    // Neo4j checks credentials at HELLO only: the live connection stays
    // authenticated until it is closed, as a server restart or a network
    // cut would close it.
    assert_eq!(
        kill_connections_of(&user),
        1,
        "the creator's one connection"
    );

    for i in 0..16 {
        creator
            .add_relationship("doc_0", format!("chunk_{i}"), "HAS_CHUNK", [])
            .unwrap();
    }
    let report = creator.flush();
    drop_user(&user);
    let stats = creator.stats();
    eprintln!("after the password change: {stats:?}");

    // The lost connection is retried once; the refused login is not
    // retried, and no 2n-1 bisection follows it.
    assert_eq!(stats.total_requests, 2, "{stats:?}");
    assert_eq!(stats.total_retries, 1, "{stats:?}");
    assert_eq!(stats.total_fallbacks, 0, "{stats:?}");
    assert_eq!(report.written, 0);
    assert_eq!(report.failed.len(), 16, "{report:?}");
    for failed in &report.failed {
        let error = failed.error.sink_error().expect("a Neo4j error");
        assert_names_auth_failure_not_password(error, &addr, &user);
    }
}

#[test]
fn a_wrong_password_at_connect_is_fatal_and_not_shown() {
    let user = test_servers::Endpoints::from_env().neo4j_user;
    let graph = config_as(&user, OLD_PASSWORD);
    let addr = graph.addr().to_owned();
    let error = Neo4jBatchCreator::new(graph, 16).unwrap_err();
    assert_names_auth_failure_not_password(&error, &addr, &user);
}

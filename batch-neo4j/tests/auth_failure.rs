//! Bad credentials are fatal: no retry and no bisection can fix them, so a
//! batch comes back whole after one request, with a message that names the
//! server and its code but never the password.
//!
//! "Wrong password on reconnect" is built with ArcadeDB's user commands
//! (HTTP `POST /api/v1/server`): the creator connects as a user of its own,
//! the test then drops that user and creates it again with another
//! password. ArcadeDB revokes the live session at once (`Security.
//! Unauthorized`: "The credentials of this connection are no longer
//! valid"), the sink reconnects once, and HELLO fails with the old password.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::io::{Read, Write};

use batch_core::{BatcherSettings, ErrorClass, Fallback, SinkError};
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig, Neo4jError};
use common::{config, unique};
use xtask::test_servers::{self, Endpoints};

const OLD_PASSWORD: &str = "old-secret-4711";
const NEW_PASSWORD: &str = "new-secret-0815";

/// Runs an ArcadeDB server command as root; panics unless it answers 200.
fn server_command(command: &str) {
    let e = Endpoints::from_env();
    let body = format!("{{\"command\":{command:?}}}");
    let auth = base64(format!("{}:{}", e.neo4j_user, e.neo4j_password).as_bytes());
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", e.arcadedb_http_port)).unwrap();
    write!(
        stream,
        "POST /api/v1/server HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{command}: {answer}");
}

fn create_user(name: &str, password: &str) {
    server_command(&format!(
        "create user {{\"name\":\"{name}\",\"password\":\"{password}\",\"databases\":{{\"{}\":\"admin\"}}}}",
        test_servers::NEO4J_DATABASE
    ));
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The test server's config with other credentials.
fn config_as(user: &str, password: &str) -> Neo4jConfig {
    Neo4jConfig::new(&format!("bolt://{}", config().addr()), user, password)
        .unwrap()
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
}

fn assert_names_auth_failure_not_password(error: &Neo4jError, addr: &str) {
    let text = error.to_string();
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
fn a_password_changed_under_a_live_creator_fails_the_batch_in_one_request() {
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

    server_command(&format!("drop user {user}"));
    create_user(&user, NEW_PASSWORD);

    for i in 0..16 {
        creator
            .add_relationship("doc_0", format!("chunk_{i}"), "HAS_CHUNK", [])
            .unwrap();
    }
    let report = creator.flush();
    server_command(&format!("drop user {user}"));
    let stats = creator.stats();
    eprintln!("after the password change: {stats:?}");

    // One request: no retry of a refusal, no 2n-1 bisection.
    assert_eq!(stats.total_requests, 1, "{stats:?}");
    assert_eq!(stats.total_retries, 0, "{stats:?}");
    assert_eq!(stats.total_fallbacks, 0, "{stats:?}");
    assert_eq!(report.written, 0);
    assert_eq!(report.failed.len(), 16, "{report:?}");
    for failed in &report.failed {
        let error = failed.error.sink_error().expect("a Neo4j error");
        assert_names_auth_failure_not_password(error, &addr);
    }
}

#[test]
fn a_wrong_password_at_connect_is_fatal_and_not_shown() {
    let graph = config_as("root", OLD_PASSWORD);
    let addr = graph.addr().to_owned();
    let error = Neo4jBatchCreator::new(graph, 16).unwrap_err();
    assert_names_auth_failure_not_password(&error, &addr);
}

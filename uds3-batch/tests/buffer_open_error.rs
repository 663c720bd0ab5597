//! Issue 30, defect 8: a durable buffer that cannot be opened was reported
//! as a thread that could not start ("cannot start the flusher thread",
//! "could not start a thread"), hiding the real cause. Each backend's
//! constructor, given a buffer directory under a regular file (ENOTDIR:
//! the tests may run as root, where permissions would not fail), must name
//! the directory and the cause, and no thread. Neo4j and PostgreSQL
//! connect before they open the buffer, so this needs the servers of
//! `cargo xtask services up`.

mod common;

use std::path::{Path, PathBuf};

use uds3_batch::BatcherSettings;
use uds3_batch::chroma::ChromaBatchInserter;
use uds3_batch::couch::CouchDBBatchInserter;
use uds3_batch::neo4j::Neo4jBatchCreator;
use uds3_batch::postgres::PostgreSQLBatchInserter;

/// A buffer directory that cannot be made: its parent is a regular file.
fn buffer_under_a_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").expect("write");
    let buffer = file.join("buffer");
    (dir, buffer)
}

fn settings(name: &str, buffer: &Path) -> BatcherSettings {
    BatcherSettings::builder()
        .name(name)
        .durable(buffer)
        .build()
        .expect("settings")
}

fn says_what_failed(backend: &str, message: &str, buffer: &Path) {
    assert!(
        message.contains(&buffer.display().to_string()),
        "{backend}: the buffer directory is not named: {message}"
    );
    assert!(
        message.contains("Not a directory"),
        "{backend}: the cause is not named: {message}"
    );
    assert!(
        !message.contains("thread"),
        "{backend}: reported as a thread problem: {message}"
    );
}

#[test]
fn chroma_names_the_buffer_and_the_cause() {
    let (_keep, buffer) = buffer_under_a_file();
    let collection = common::collection("buffer-open-error");
    let Err(e) = ChromaBatchInserter::with_settings(collection, settings("chroma-buf", &buffer))
    else {
        panic!("chroma: a buffer under a file was accepted");
    };
    says_what_failed("chroma", &e.to_string(), &buffer);
}

#[test]
fn couch_names_the_buffer_and_the_cause() {
    let (_keep, buffer) = buffer_under_a_file();
    let db = common::couch("buffer-open-error", std::time::Duration::from_secs(10));
    let Err(e) = CouchDBBatchInserter::with_settings(db, settings("couch-buf", &buffer)) else {
        panic!("couch: a buffer under a file was accepted");
    };
    says_what_failed("couch", &e.to_string(), &buffer);
}

#[test]
fn neo4j_names_the_buffer_and_the_cause() {
    let (_keep, buffer) = buffer_under_a_file();
    let Err(e) = Neo4jBatchCreator::with_settings(common::graph(), settings("neo4j-buf", &buffer))
    else {
        panic!("neo4j: a buffer under a file was accepted");
    };
    says_what_failed("neo4j", &e.to_string(), &buffer);
}

#[test]
fn postgres_names_the_buffer_and_the_cause() {
    let (_keep, buffer) = buffer_under_a_file();
    let Err(e) =
        PostgreSQLBatchInserter::with_settings(common::postgres(), settings("pg-buf", &buffer))
    else {
        panic!("postgres: a buffer under a file was accepted");
    };
    says_what_failed("postgres", &e.to_string(), &buffer);
}

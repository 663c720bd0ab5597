//! Entry points for the project's fuzz targets (`fuzz/` at the workspace
//! root) and for the smoke run in the test suite: not API. Each takes any
//! bytes, never panics on its own account, and panics (which the fuzzer
//! reports) only when an invariant of the code under test is broken.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use batch_core::{ErrorClass, ItemOutcome, Sink, SinkError};
use bolt_client::bolt_proto::message::{Failure, Record, Success};
use bolt_client::bolt_proto::{Message, Value};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::{MergeAnchor, Neo4jConfig};
use crate::connection::BoltSession;
use crate::item::{GraphItem, NodeItem, RelationshipItem};
use crate::sink::Neo4jSink;

/// A Bolt server's side of a connection, in memory: reads give the
/// answers, then end of file; writes are swallowed.
pub(crate) struct Answers {
    bytes: Vec<u8>,
    at: usize,
}

impl Answers {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, at: 0 }
    }
}

impl AsyncRead for Answers {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let rest = &self.bytes[self.at..];
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Answers {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Neo4j URI parsing (`Neo4jConfig::new`): the bytes after the first are
/// the URI. Invariants: no panic; an accepted URI has a `host:port`
/// address; an error never shows a password written into the URI.
pub fn neo4j_uri(data: &[u8]) {
    let uri = String::from_utf8_lossy(data.get(1..).unwrap_or_default());
    let message_of = |uri: &str| {
        Neo4jConfig::new(uri, "neo4j", "fuzz-password")
            .err()
            .map(|e| e.to_string())
    };
    match Neo4jConfig::new(&uri, "neo4j", "fuzz-password") {
        Ok(config) => assert!(
            config.addr().rsplit_once(':').is_some(),
            "{uri:?}: address {:?} has no port",
            config.addr()
        ),
        Err(e) => assert!(
            !batch_core::fuzzing::shows_password(&uri, message_of),
            "{uri:?}: {e}"
        ),
    }
}

/// The batch the write modes send: two nodes of one label, one of
/// another, a relationship between them, and one invalid node (its
/// outcome is decided before anything is sent).
fn items() -> Vec<GraphItem> {
    let node = |label: &str, id: &str| {
        GraphItem::Node(Box::new(NodeItem {
            label: label.into(),
            id: id.into(),
            properties: [("n".to_owned(), 1_i64.into())].into_iter().collect(),
        }))
    };
    vec![
        node("Doc", "d1"),
        node("Doc", "d2"),
        node("Chunk", "c1"),
        GraphItem::Relationship(Box::new(RelationshipItem {
            from_label: "Doc".into(),
            from_id: "d1".into(),
            to_label: "Chunk".into(),
            to_id: "c1".into(),
            rel_type: "HAS_CHUNK".into(),
            properties: crate::Properties::new(),
        })),
        node("Bad Label", "x"),
    ]
}

/// Bolt answer decoding: the bytes a server sends (byte 0 picks the
/// handshake's version, or bit 0-1 = 3 takes it from the input; bits 2-3
/// the exchange: a batch write, its replay, a Cypher query, or an index
/// creation; bit 4 asks to try APOC) through the same handshake, HELLO,
/// probe, pipelined transaction, FAILURE classification and RESET that a
/// real connection goes through (bolt-client and bolt-proto decode the
/// chunks and PackStream values). Invariants: no panic; a write answers
/// one outcome per item, the invalid item failed; an error has a class.
pub fn bolt_answers(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if claims_a_huge_collection(rest) {
        return;
    }
    let mut answers = match mode & 3 {
        0 => vec![0, 0, 4, 4],
        1 => vec![0, 0, 0, 4],
        2 => vec![0, 0, 0, 3],
        _ => Vec::new(),
    };
    answers.extend_from_slice(rest);
    // A reconnect (after a spent session) goes to a port nobody serves.
    let Ok(config) = Neo4jConfig::new("bolt://127.0.0.1:1", "neo4j", "fuzz-password") else {
        panic!("harness: the fixed URI is refused");
    };
    let config = config.timeout(std::time::Duration::from_secs(2));
    let session = match BoltSession::over_answers(config, answers) {
        Ok(session) => session,
        Err(e) => {
            let _ = (e.to_string(), e.class());
            return;
        }
    };
    let mut sink = Neo4jSink::over_session(session, MergeAnchor::default(), mode & 16 != 0);
    let items = items();
    let outcomes = match (mode >> 2) & 3 {
        0 => sink.write_batch(&items),
        1 => sink.replay_batch(&items),
        2 => {
            let params = [("id".to_owned(), "d1".into())].into_iter().collect();
            match sink.run_cypher("MATCH (n {id: $id}) RETURN n.id, n.n", &params) {
                Ok(rows) => {
                    let _ = rows.len();
                    return;
                }
                Err(e) => Err(e),
            }
        }
        _ => sink.ensure_indexes(&["Doc", "Chunk"]).map(|()| Vec::new()),
    };
    match outcomes {
        Ok(outcomes) if (mode >> 2) & 3 < 2 => {
            assert_eq!(outcomes.len(), items.len(), "one outcome per item");
            assert!(
                matches!(outcomes[4], ItemOutcome::Failed(_)),
                "the invalid item: {:?}",
                outcomes[4]
            );
        }
        Ok(_) => {}
        Err(e) => {
            let class = e.class();
            assert!(!e.to_string().is_empty(), "{class:?}: an empty message");
            assert!(
                !e.to_string().contains("fuzz-password"),
                "the password in an error: {e}"
            );
            let _ = class == ErrorClass::Fatal;
        }
    }
}

/// Known finding, reported (issue 30; input in
/// `fuzz/artifacts/bolt_answers/bolt-proto-list32-huge-allocation`):
/// bolt-proto 0.12 reserves room for as many values as a LIST_32 (0xD6)
/// or MAP_32 (0xDA) header claims, before reading them, so a few bytes
/// from the server ask for up to 2^32 values (about 200 GB): the
/// allocation fails and the process aborts. Inputs where such a marker is
/// followed by a size larger than the input are left out, so that the
/// fuzzer looks past it (some inputs with those bytes as data go too).
fn claims_a_huge_collection(bytes: &[u8]) -> bool {
    bytes.windows(5).any(|w| {
        matches!(w[0], 0xD6 | 0xDA)
            && u32::from_be_bytes([w[1], w[2], w[3], w[4]]) as usize > bytes.len()
    })
}

/// Real answers, built with bolt-proto, each an input of
/// [`bolt_answers`]: what a server says to a connection and a batch
/// (SUCCESS, RECORDs, FAILURE, IGNORED), for the seed corpus and the
/// smoke run.
pub fn bolt_seeds() -> Vec<Vec<u8>> {
    fn message(m: Message) -> Vec<u8> {
        match m.into_chunks() {
            Ok(chunks) => chunks.concat(),
            Err(e) => panic!("seed: {e}"),
        }
    }
    let success = |pairs: &[(&str, Value)]| {
        message(Message::Success(Success::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<HashMap<_, _>>(),
        )))
    };
    let record = |fields: Vec<Value>| message(Message::Record(Record::new(fields)));
    let failure = |code: &str| {
        message(Message::Failure(Failure::new(HashMap::from([
            ("code".to_owned(), Value::from(code)),
            ("message".to_owned(), Value::from("fuzz seed")),
        ]))))
    };
    let hello = success(&[("server", Value::from("Neo4j/5.0.0"))]);
    let probe = [
        success(&[("fields", Value::from(vec![Value::from("1")]))]),
        record(vec![Value::from(1_i64)]),
        success(&[]),
    ]
    .concat();
    let run = success(&[(
        "fields",
        Value::from(vec![Value::from("i"), Value::from("created")]),
    )]);
    let row = |i: i64, created: bool| record(vec![Value::from(i), Value::from(created)]);
    let mut seeds = Vec::new();
    // A batch: BEGIN, then per statement RUN + records + PULL, then COMMIT.
    let mut batch = vec![0_u8];
    batch.extend([hello.clone(), probe.clone(), success(&[])].concat());
    for rows in [
        vec![row(0, true), row(1, false)],
        vec![row(2, true)],
        vec![row(3, true)],
    ] {
        batch.extend(&run);
        rows.iter().for_each(|r| batch.extend(r));
        batch.extend(success(&[("bookmark", Value::from("bm"))]));
    }
    batch.extend(success(&[("bookmark", Value::from("bm:1"))]));
    seeds.push(batch.clone());
    // Its replay, and the same on Bolt 4.0 and 3.0.
    seeds.push([&[4_u8][..], &batch[1..]].concat());
    seeds.push([&[1_u8][..], &batch[1..]].concat());
    seeds.push([&[2_u8][..], &batch[1..]].concat());
    // A FAILURE at BEGIN, the rest IGNORED, then the RESET's SUCCESS.
    let ignored = message(Message::Ignored);
    seeds.push(
        [
            vec![0_u8],
            hello.clone(),
            probe.clone(),
            failure("Neo.TransientError.Transaction.LockClientStopped"),
            ignored.clone(),
            ignored.clone(),
            success(&[]),
        ]
        .concat(),
    );
    // A spent session (reconnect refused), and a bad HELLO.
    seeds.push(
        [
            vec![0_u8],
            hello.clone(),
            probe.clone(),
            failure("Neo.ClientError.Request.Invalid"),
        ]
        .concat(),
    );
    seeds.push([vec![0_u8], failure("Neo.ClientError.Security.Unauthorized")].concat());
    // A query with rows of every kind of value.
    seeds.push(
        [
            vec![8_u8],
            hello.clone(),
            probe.clone(),
            success(&[(
                "fields",
                Value::from(vec![Value::from("a"), Value::from("b")]),
            )]),
            record(vec![Value::from("d1"), Value::from(1.5_f64)]),
            record(vec![Value::from(vec![Value::from(true)]), Value::Null]),
            success(&[]),
        ]
        .concat(),
    );
    // Index creation: two auto-commit statements.
    seeds.push(
        [
            vec![12_u8],
            hello,
            probe,
            success(&[]),
            success(&[]),
            success(&[]),
            success(&[]),
        ]
        .concat(),
    );
    seeds
}

//! Entry points for the project's fuzz targets (`fuzz/` at the workspace
//! root) and for the smoke run in the test suite: not API. Each takes any
//! bytes, never panics on its own account, and panics (which the fuzzer
//! reports) only when an invariant of the code under test is broken.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use batch_core::read::ReadSource;
use batch_core::{ItemOutcome, Sink, SinkError};
use serde_json::json;

use crate::{ConflictPolicy, CouchDatabase, CouchDoc, CouchOptions, CouchSink};

/// The answers the scripted server gives next, in order: status and body.
type Script = Mutex<VecDeque<(u16, Vec<u8>)>>;

/// A local HTTP/1.1 server (one thread per connection, keep-alive) that
/// answers each request with the next scripted answer, or 503 when none
/// is left: so that the answers reach batch-couch through ureq and the
/// same `Endpoint` a real server's do. Started once per process; returns
/// its URL.
fn server() -> (&'static str, &'static Script) {
    static SERVER: OnceLock<(String, Script)> = OnceLock::new();
    let (url, script) = SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("harness: cannot listen: {e}"));
        let url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => panic!("harness: {e}"),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        (url, Mutex::new(VecDeque::new()))
    });
    (url, script)
}

/// Answers the requests on one connection until it closes.
fn serve(stream: TcpStream) {
    let (_, script) = server();
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0_usize;
        let mut line = String::new();
        // The request line and headers, up to the empty line.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0_u8; length];
        if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
            return;
        }
        let (status, answer) = script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or((503, b"{\"error\":\"script ended\"}".to_vec()));
        let head = format!(
            "HTTP/1.1 {status} Fuzz\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        // One write: a head and a body in two would wait for a delayed ACK.
        let mut whole = head.into_bytes();
        whole.extend_from_slice(&answer);
        if out.write_all(&whole).is_err() {
            return;
        }
    }
}

/// The answers an input stands for: after the mode byte, each answer is
/// a status (2 bytes, big endian, mapped into 200-599 without 204 and
/// 304, which carry no body) and a body length (2 bytes) and the body.
fn answers(data: &[u8]) -> VecDeque<(u16, Vec<u8>)> {
    let mut out = VecDeque::new();
    let mut rest = data;
    while rest.len() >= 4 {
        let status = 200 + u16::from_be_bytes([rest[0], rest[1]]) % 400;
        let status = if matches!(status, 204 | 304) {
            status + 1
        } else {
            status
        };
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let body = &rest[4..];
        let body = &body[..len.min(body.len())];
        out.push_back((status, body.to_vec()));
        rest = &rest[4 + body.len()..];
    }
    out
}

/// One answer in the input's form (for seeds).
fn answer(status: u16, body: &serde_json::Value) -> Vec<u8> {
    let text = body.to_string();
    let len = u16::try_from(text.len()).unwrap_or(u16::MAX);
    let mut out = (status - 200).to_be_bytes().to_vec();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&text.as_bytes()[..usize::from(len)]);
    out
}

/// The batch the write modes send: three documents, two with the same id
/// (so they go in two rounds), one with attachments.
fn docs() -> Vec<CouchDoc> {
    let doc = |value: serde_json::Value| {
        CouchDoc::new(value, None, 1 << 20).unwrap_or_else(|e| panic!("harness: {e:?}"))
    };
    vec![
        doc(json!({"_id": "a", "n": 1})),
        doc(
            json!({"_id": "b", "n": 2, "_attachments": {"t.txt": {"content_type": "text/plain", "data": "aGk="}}}),
        ),
        doc(json!({"_id": "a", "n": 3})),
    ]
}

/// CouchDB answer decoding: the statuses and bodies a server gives
/// (after byte 0: see `answers`) to the requests of a batch write
/// (`_bulk_docs`, and `_all_docs` for revisions and stored copies), its
/// replay, a read (`_bulk_get`, or `_all_docs?include_docs` without
/// it) or an existence check (`_all_docs`), through batch-couch's own
/// code over HTTP. Byte 0: bits 0-1 the exchange, bits 2-3 the conflict
/// policy (skip, overwrite, fail). Invariants: no panic; a write answers
/// one outcome per document, a failed one with an error that has a
/// class; a read returns documents that are JSON objects.
pub fn couch_answers(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (url, script) = server();
    *script.lock().unwrap_or_else(PoisonError::into_inner) = answers(rest);
    // One database (one HTTP agent, its connection kept alive) for every
    // input: a new agent per input spent most of the time on set-up.
    static DB: OnceLock<CouchDatabase> = OnceLock::new();
    let db = DB
        .get_or_init(|| {
            CouchDatabase::with_timeout(url, "fuzz", Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("harness: {e}"))
        })
        .clone();
    let policy = match (mode >> 2) & 3 {
        0 => ConflictPolicy::Skip,
        1 => ConflictPolicy::Overwrite,
        _ => ConflictPolicy::Fail,
    };
    let ids: Vec<String> = ["a", "b", "c"].map(str::to_owned).to_vec();
    match mode & 3 {
        write @ (0 | 1) => {
            let mut sink = CouchSink::new(
                db,
                CouchOptions::default()
                    .conflict_policy(policy)
                    .overwrite_attempts(2),
            );
            let docs = docs();
            let outcomes = if write == 0 {
                sink.write_batch(&docs)
            } else {
                sink.replay_batch(&docs)
            };
            match outcomes {
                Ok(outcomes) => {
                    assert_eq!(outcomes.len(), docs.len(), "one outcome per document");
                    for outcome in outcomes {
                        if let ItemOutcome::Failed(e) = outcome {
                            let _ = (e.class(), e.to_string());
                        }
                    }
                }
                Err(e) => {
                    let _ = (e.class(), e.to_string());
                }
            }
        }
        2 => {
            let mut db = db;
            if let Ok(found) = db.read(&ids) {
                for (_, doc) in found {
                    assert!(
                        doc.is_object(),
                        "a read returned a document that is not an object: {doc}"
                    );
                }
            }
        }
        _ => {
            let mut db = db;
            let _ = db.exists(&ids);
        }
    }
    // Answers left over are not carried into the next input.
    script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
}

/// Answers in the shape CouchDB 3 and pouchdb-server give them (as the
/// backend tests see them), each an input of [`couch_answers`]: for the
/// seed corpus and the smoke run.
pub fn couch_seeds() -> Vec<Vec<u8>> {
    let stored = |id: &str, rev: &str| json!({"ok": true, "id": id, "rev": rev});
    let conflict =
        |id: &str| json!({"id": id, "error": "conflict", "reason": "Document update conflict."});
    let round1 = answer(201, &json!([stored("a", "1-x"), stored("b", "1-y")]));
    let round2 = answer(201, &json!([stored("a", "2-z")]));
    let conflicts = answer(
        201,
        &json!([conflict("a"), {"id": "b", "error": "forbidden", "reason": "no"}]),
    );
    let revs = answer(
        200,
        &json!({"total_rows": 2, "offset": 0, "rows": [
            {"id": "a", "key": "a", "value": {"rev": "1-x"}},
            {"key": "c", "error": "not_found"}
        ]}),
    );
    let stored_copies = answer(
        200,
        &json!({"total_rows": 2, "offset": 0, "rows": [
            {"id": "a", "key": "a", "value": {"rev": "1-x"}, "doc": {"_id": "a", "_rev": "1-x", "n": 1}},
            {"id": "b", "key": "b", "value": {"rev": "1-y", "deleted": true}, "doc": null}
        ]}),
    );
    let bulk_get = answer(
        200,
        &json!({"results": [
            {"id": "a", "docs": [{"ok": {"_id": "a", "_rev": "1-x", "n": 1}}]},
            {"id": "b", "docs": [{"error": {"id": "b", "rev": "undefined", "error": "not_found", "reason": "missing"}}]},
            {"id": "c", "docs": [{}]}
        ]}),
    );
    let mut seeds = Vec::new();
    let seed = |mode: u8, parts: &[&Vec<u8>]| {
        let mut s = vec![mode];
        parts.iter().for_each(|p| s.extend_from_slice(p));
        s
    };
    seeds.push(seed(0, &[&round1, &round2]));
    seeds.push(seed(1, &[&conflicts, &stored_copies, &round2]));
    seeds.push(seed(4, &[&conflicts, &revs, &round1, &round2]));
    seeds.push(seed(8, &[&conflicts, &round2]));
    seeds.push(seed(
        0,
        &[&answer(
            500,
            &json!({"error": "unknown_error", "reason": "function_clause"}),
        )],
    ));
    seeds.push(seed(2, &[&bulk_get]));
    seeds.push(seed(
        2,
        &[
            &answer(405, &json!({"error": "method_not_allowed"})),
            &stored_copies,
        ],
    ));
    seeds.push(seed(3, &[&stored_copies]));
    seeds
}

//! A COMMIT whose answer is lost (the server hangs after receiving it, past
//! the client's timeout) may have been applied: the batch is replayed, and
//! relationships that the first attempt did store count as written, so
//! `total_created` equals what the server holds and no item comes back.
//!
//! Own binary: it pauses the shared test server. The pause must fall
//! between "COMMIT sent" and "answer received", a window of milliseconds,
//! so a small TCP relay between the sink and the real server holds the
//! first COMMIT, pauses the server (`test_support::test_servers::pause`), hands
//! the COMMIT over to the paused server, and resumes it once the client
//! has timed out. The relay changes no byte; the server commits for real.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use batch_core::testing::counts::assert_counted;
use batch_neo4j::{Neo4jBatchCreator, Neo4jConfig};
use common::{admin, config, count, seed_doc_and_chunks, unique};
use test_support::test_servers::{self, Service};

/// A Bolt COMMIT message as one chunk: size 2, struct of no fields (0xB0) with
/// tag 0x12, end-of-message marker.
const COMMIT: [u8; 6] = [0x00, 0x02, 0xB0, 0x12, 0x00, 0x00];

/// The tests of this binary pause the one shared server: one at a time.
static SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());

const TIMEOUT: Duration = Duration::from_secs(1);
/// How long the server stays paused after it received the COMMIT.
const HOLD: Duration = Duration::from_secs(3);

/// Relays every connection to `server`; the first COMMIT after `armed` is
/// set is delivered to a paused server, which is resumed after [`HOLD`].
struct Relay {
    addr: String,
    armed: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
}

impl Relay {
    fn start(server: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let armed = Arc::new(AtomicBool::new(false));
        let fired = Arc::new(AtomicBool::new(false));
        let (a, f) = (Arc::clone(&armed), Arc::clone(&fired));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(upstream) = TcpStream::connect(&server) else {
                    continue;
                };
                let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || answers(u2, c2));
                let (a, f) = (Arc::clone(&a), Arc::clone(&f));
                std::thread::spawn(move || requests(client, upstream, &a, &f));
            }
        });
        Self { addr, armed, fired }
    }
}

impl Relay {
    /// The test server's config, through this relay, with the short timeout.
    fn config(&self) -> Neo4jConfig {
        let endpoints = test_servers::Endpoints::from_env();
        Neo4jConfig::new(
            &format!("bolt://{}", self.addr),
            endpoints.neo4j_user,
            endpoints.neo4j_password,
        )
        .unwrap()
        .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
        .timeout(TIMEOUT)
    }

    /// A creator writing batches of `batch` through this relay.
    fn creator(&self, graph: Neo4jConfig, batch: usize) -> Neo4jBatchCreator {
        Neo4jBatchCreator::new(graph, batch).unwrap()
    }
}

/// Client to server: forwards bytes, stalling the armed COMMIT as described.
fn requests(
    mut client: TcpStream,
    mut upstream: TcpStream,
    armed: &AtomicBool,
    fired: &AtomicBool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let is_commit = chunk.windows(COMMIT.len()).any(|w| w == COMMIT);
        if is_commit && armed.swap(false, Ordering::SeqCst) {
            let paused = test_servers::pause(Service::Neo4j);
            fired.store(true, Ordering::SeqCst);
            if upstream.write_all(chunk).is_err() {
                break;
            }
            std::thread::sleep(HOLD);
            drop(paused);
            continue;
        }
        if upstream.write_all(chunk).is_err() {
            break;
        }
    }
    // Let the server read everything it was sent before it sees the end.
    std::thread::sleep(Duration::from_secs(1));
    let _ = upstream.shutdown(Shutdown::Write);
}

/// Server to client: forwards bytes; once the client is gone, keeps
/// reading so the server is never blocked on a full socket.
fn answers(mut upstream: TcpStream, mut client: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut client_gone = false;
    loop {
        let n = match upstream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !client_gone && client.write_all(&buf[..n]).is_err() {
            client_gone = true;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
}

#[test]
fn a_lost_commit_answer_is_replayed_and_counted_as_written() {
    let _server = SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (doc, chunk) = (unique("Doc"), unique("Chunk"));
    let total = 200;
    let mut admin = admin();
    seed_doc_and_chunks(&mut admin, &doc, &chunk, total);

    let relay = Relay::start(config().addr().to_owned());
    let creator = relay.creator(relay.config().labels(&doc, &chunk).unwrap(), total);

    relay.armed.store(true, Ordering::SeqCst);
    for i in 0..total {
        creator
            .add_relationship(
                "doc_0",
                format!("chunk_{i}"),
                "HAS_CHUNK",
                [("order", (i as i64).into())],
            )
            .unwrap();
    }
    let report = creator.flush_timeout(Duration::from_secs(120));
    assert!(
        relay.fired.load(Ordering::SeqCst),
        "the relay never saw the COMMIT: the test did not test anything"
    );
    let stats = creator.stats();
    eprintln!("after the lost COMMIT answer: {stats:?}, report {report:?}");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(stats.total_retries >= 1, "{stats:?}");

    let on_server = count(
        &mut admin,
        &format!("MATCH (:{doc})-[r]->(:{chunk}) RETURN count(r)"),
    );
    assert_eq!(
        on_server, total as i64,
        "the first attempt's commit or the replay wrote them"
    );
    assert_eq!(
        creator.get_stats()["total_created"] as i64,
        on_server,
        "{stats:?}"
    );
    assert_eq!(stats.total_conflicts, 0, "{stats:?}");
}

/// Issue 30's replay miscount: 100 existing nodes holding `v` and `w`
/// get a new `v`; the COMMIT's answer is lost, and the replay finds every
/// node already changed by the lost attempt. The replay must count each
/// node once as written, as the same upsert without a lost answer does
/// (the server holds the 100 changed nodes, the batcher's own values).
#[test]
fn a_replayed_upsert_of_existing_nodes_counts_each_node_once_as_written() {
    let _server = SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let label = unique("Replay");
    let total = 100;
    let mut admin = admin();
    admin
        .run_cypher(
            &format!(
                "UNWIND range(0, {}) AS i CREATE (:{label} {{id: 'n' + toString(i), v: 0, w: 'kept'}})",
                total - 1
            ),
            &batch_neo4j::Properties::new(),
        )
        .unwrap();

    let relay = Relay::start(config().addr().to_owned());
    let creator = relay.creator(relay.config(), total);
    relay.armed.store(true, Ordering::SeqCst);
    for i in 0..total {
        creator
            .upsert_node(&label, format!("n{i}"), [("v", (i as i64 + 1).into())])
            .unwrap();
    }
    let report = creator.flush_timeout(Duration::from_secs(120));
    assert!(
        relay.fired.load(Ordering::SeqCst),
        "the relay never saw the COMMIT: the test did not test anything"
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let stats = creator.stats();
    assert!(stats.total_retries >= 1, "{stats:?}");
    let changed = count(
        &mut admin,
        &format!(
            "MATCH (n:{label}) WHERE n.v = toInteger(substring(n.id, 1)) + 1 AND n.w = 'kept' RETURN count(n)"
        ),
    );
    assert_eq!(changed, total as i64, "every node holds its new value once");
    assert_eq!(
        count(&mut admin, &format!("MATCH (n:{label}) RETURN count(n)")),
        total as i64
    );
    assert_counted(&stats, total as u64, 0, "replay after a lost COMMIT answer");
}

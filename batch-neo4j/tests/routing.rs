//! Issue 31: Bolt version and the `neo4j://` routing scheme against the
//! real Neo4j 5 server. A single Community server answers `ROUTE` with
//! itself as writer, reader and router (named by the `address` the client
//! sent in the routing context; `neo4j+s` through the TLS front end is in
//! `tls.rs`). A small Bolt-aware relay in front of it (below) puts its own
//! address in every routing table it passes on, so that every connection
//! goes through it whatever the server names (and can shorten the TTL),
//! and answers `BEGIN`s with `Neo.ClientError.Cluster.NotALeader` or
//! closes that connection: the library fetches a new table and writes the
//! batch there, once.
//!
//! The relay is the test's own, not `test_support::relay`: that one forwards
//! bytes and cannot rewrite a routing table or answer for the server.

mod common;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use batch_core::{ErrorClass, SinkError};
use batch_neo4j::{Neo4jBatchCreator, Neo4jBatchReader, Neo4jConfig, Neo4jSink, NodesByLabel};
use bolt_client::bolt_proto::message::{Failure, Success};
use bolt_client::bolt_proto::{Message, Value};
use common::{admin, count, unique};
use test_support::test_servers::{self, Endpoints, Service};

/// The test server's `host:port` (from `UDS3_NEO4J_URI`).
fn server_addr() -> String {
    let uri = test_servers::require(Service::Neo4j);
    let rest = uri.split_once("://").map_or(uri.as_str(), |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// `{scheme}://{addr}{query}` with the test server's credentials.
fn config_for(scheme: &str, addr: &str, query: &str) -> Neo4jConfig {
    let endpoints = Endpoints::from_env();
    Neo4jConfig::new(
        &format!("{scheme}://{addr}{query}"),
        endpoints.neo4j_user,
        endpoints.neo4j_password,
    )
    .expect("a URI with a routing context")
    .database(Some(test_servers::NEO4J_DATABASE.to_owned()))
}

/// `neo4j://{addr}{query}` with the test server's credentials.
fn routing_config(addr: &str, query: &str) -> Neo4jConfig {
    config_for("neo4j", addr, query)
}

/// Upserts nodes `{prefix}{i}` of `label` for `i` in `0..n`.
fn add_nodes(creator: &Neo4jBatchCreator, label: &str, prefix: &str, n: i64) {
    for i in 0..n {
        creator
            .upsert_node(label, format!("{prefix}{i}"), [("i", i.into())])
            .expect("add");
    }
}

/// How many nodes of `label` the server holds.
fn nodes_of(label: &str) -> i64 {
    count(&mut admin(), &format!("MATCH (n:{label}) RETURN count(n)"))
}

#[test]
fn bolt_4_4_is_agreed_with_neo4j_5() {
    let sink = Neo4jSink::connect(common::config()).expect("connect");
    assert_eq!(sink.bolt_version(), Some((4, 4)));
    assert_eq!(sink.routing_table(), None, "bolt:// does not route");
    assert_eq!(sink.query_stats().routing_tables, 0);
}

#[test]
fn neo4j_scheme_fetches_the_servers_routing_table_and_writes_to_its_writer() {
    let addr = server_addr();
    let config = routing_config(&addr, "?region=test&policy=default");
    let sink = Neo4jSink::connect(config.clone()).expect("connect through routing");
    let table = sink.routing_table().expect("a routing table");
    assert_eq!(table.writers, [addr.as_str()]);
    assert_eq!(table.readers, [addr.as_str()]);
    assert_eq!(table.routers, [addr.as_str()]);
    // The router is the writer: its connection carries the writes too.
    let relay = test_support::relay::Relay::start(&addr, Duration::ZERO).expect("relay");
    let through = routing_config(&relay.addr().to_string(), "");
    let mut one = Neo4jSink::connect(through).expect("connect through the relay");
    assert_eq!(count(&mut one, "RETURN 7"), 7);
    assert_eq!(
        relay.connections(),
        1,
        "one connection for ROUTE and writes"
    );
    assert!(table.ttl > Duration::ZERO, "{table:?}");
    assert_eq!(sink.bolt_version(), Some((4, 4)));
    assert_eq!(sink.query_stats().routing_tables, 1);

    let label = unique("Routed");
    let creator = Neo4jBatchCreator::new(config, 50).expect("creator");
    add_nodes(&creator, &label, "n", 120);
    let report = creator.close(Duration::from_secs(120));
    assert!(report.failed.is_empty(), "{:?}", report.failed.first());
    let stats = creator.stats();
    assert_eq!((stats.total_added, stats.total_failed), (120, 0));
    assert_eq!(nodes_of(&label), 120);
    assert_eq!(creator.query_stats().routing_tables, 1, "TTL not over");

    // The batch reader follows the table too (it reads from the writer).
    let reader = Neo4jBatchReader::new(
        NodesByLabel::new(routing_config(&addr, "?region=test"), &label).expect("label"),
    );
    let ids: Vec<String> = (0..120).map(|i| format!("n{i}")).collect();
    let nodes = reader.get_many(&ids).expect("read through routing");
    assert_eq!(nodes.found.len(), 120);
}

/// Bad credentials through a `neo4j` URI: fatal at the first router, one
/// connection, the message naming the user and the host. A user of its
/// own: Neo4j locks a user out after failed logins.
#[test]
fn a_wrong_password_through_routing_is_fatal_after_one_connection() {
    let relay = test_support::relay::Relay::start(&server_addr(), Duration::ZERO).expect("relay");
    let user = unique("nobody");
    let config = Neo4jConfig::new(
        &format!("neo4j://{}?region=eu", relay.addr()),
        user.as_str(),
        "wrong-password-1",
    )
    .expect("config");
    let err = Neo4jSink::connect(config).expect_err("refused");
    assert_eq!(err.class(), ErrorClass::Fatal, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&relay.addr().to_string())
            && text.contains("Unauthorized")
            && text.contains(&format!("user {user:?}")),
        "{text}"
    );
    assert!(!text.contains("wrong-password-1"), "{text}");
    assert_eq!(relay.connections(), 1);
}

/// What the relay does to the first `BEGIN` once armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Answers it `FAILURE {code: "Neo.ClientError.Cluster.NotALeader"}`
    /// (and `IGNORED` to what follows, until `RESET`), as a follower does.
    NotALeader,
    /// Closes that connection: the writer is lost before the COMMIT.
    CloseWriter,
}

/// 100 nodes through a relay whose next `armed` `BEGIN`s get `fault`: all
/// written once, each fault answered; returns the label's creator.
fn write_through_faults(fault: Fault, armed: u64) -> Neo4jBatchCreator {
    let relay = BoltRelay::start(&server_addr(), fault, None);
    let label = unique("Rerouted");
    let creator = Neo4jBatchCreator::new(routing_config(&relay.addr, ""), 100).expect("creator");
    assert_eq!(creator.query_stats().routing_tables, 1);
    relay.arm(armed);
    add_nodes(&creator, &label, "n", 100);
    let report = creator.close(Duration::from_secs(120));
    assert!(report.failed.is_empty(), "{:?}", report.failed.first());
    assert_eq!(relay.injected(), armed, "{fault:?} answered {armed} times");
    let stats = creator.stats();
    assert_eq!(
        (stats.total_added, stats.total_conflicts, stats.total_failed),
        (100, 0, 0),
        "{fault:?}: {stats:?}"
    );
    assert_eq!(nodes_of(&label), 100, "{fault:?}");
    creator
}

#[test]
fn not_a_leader_refreshes_the_table_and_the_batch_is_written_once() {
    refreshed_once(Fault::NotALeader);
}

#[test]
fn a_lost_writer_refreshes_the_table_and_the_batch_is_written_once() {
    refreshed_once(Fault::CloseWriter);
}

fn refreshed_once(fault: Fault) {
    let creator = write_through_faults(fault, 1);
    let query_stats = creator.query_stats();
    assert_eq!(
        query_stats.routing_tables, 2,
        "one refresh: {query_stats:?}"
    );
    assert_eq!(query_stats.transactions, 1, "retried in the session");
    assert_eq!(creator.stats().total_retries, 0, "{fault:?}");
}

/// A writer that still answers `NotALeader` after the refresh (a cluster
/// still electing) makes the batch a transient error: batch-core retries
/// it, and the retry, on a third table, writes it once.
#[test]
fn not_a_leader_again_after_the_refresh_is_retried_by_batch_core() {
    let creator = write_through_faults(Fault::NotALeader, 2);
    assert_eq!(creator.stats().total_retries, 1);
    assert_eq!(creator.query_stats().routing_tables, 3);
}

/// HELLO tells the server whether the client routes (Bolt 4.1+): through a
/// `neo4j` URI it carries `routing` with the URI's query string and the
/// address the URI named, on every connection (also the writer's); through
/// a `bolt` URI it carries none.
#[test]
fn hello_carries_the_routing_context_through_neo4j_only() {
    let contains = |raw: &[u8], what: &str| raw.windows(what.len()).any(|w| w == what.as_bytes());
    let relay = BoltRelay::start(&server_addr(), Fault::NotALeader, None);
    let mut sink =
        Neo4jSink::connect(routing_config(&relay.addr, "?region=eu-west")).expect("connect");
    assert_eq!(count(&mut sink, "RETURN 3"), 3);
    let hellos = relay.hellos();
    assert!(!hellos.is_empty());
    for hello in &hellos {
        for field in ["routing", "region", "eu-west", "address", &relay.addr] {
            // Not printed: a HELLO holds the password.
            assert!(contains(hello, field), "HELLO without {field:?}");
        }
    }

    let plain = BoltRelay::start(&server_addr(), Fault::NotALeader, None);
    let config = config_for("bolt", &plain.addr, "");
    let mut sink = Neo4jSink::connect(config).expect("connect");
    assert_eq!(count(&mut sink, "RETURN 4"), 4);
    let hellos = plain.hellos();
    assert_eq!(hellos.len(), 1);
    assert!(!contains(&hellos[0], "routing"), "HELLO with routing");
}

/// A routing table's TTL is honoured: with a TTL of 0 every batch asks for
/// a new table first.
#[test]
fn a_table_past_its_ttl_is_fetched_again() {
    let relay = BoltRelay::start(&server_addr(), Fault::NotALeader, Some(0));
    let label = unique("Ttl");
    let creator = Neo4jBatchCreator::new(routing_config(&relay.addr, ""), 10).expect("creator");
    for batch in 0..3 {
        add_nodes(&creator, &label, &format!("n{batch}_"), 10);
        let report = creator.flush();
        assert!(report.failed.is_empty(), "{:?}", report.failed.first());
    }
    assert_eq!(nodes_of(&label), 30);
    let query_stats = creator.query_stats();
    assert_eq!(query_stats.transactions, 3);
    assert_eq!(
        query_stats.routing_tables, 4,
        "one at connect, one per batch: {query_stats:?}"
    );
}

/// A relay that speaks enough Bolt to rewrite routing tables (every
/// address becomes the relay's; the TTL optionally replaced) and to
/// answer one `BEGIN` for the server. Threads per connection, std I/O.
struct BoltRelay {
    addr: String,
    shared: Arc<Shared>,
}

/// What every connection through the relay shares.
struct Shared {
    addr: String,
    fault: Fault,
    ttl: Option<i64>,
    armed: AtomicU64,
    injected: AtomicU64,
    hellos: Mutex<Vec<Vec<u8>>>,
}

const SIGNATURE_HELLO: u8 = 0x01;
const SIGNATURE_BEGIN: u8 = 0x11;
const SIGNATURE_RESET: u8 = 0x0F;
const SIGNATURE_SUCCESS: u8 = 0x70;

impl BoltRelay {
    fn start(target: &str, fault: Fault, ttl: Option<i64>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let shared = Arc::new(Shared {
            addr: addr.clone(),
            fault,
            ttl,
            armed: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            hellos: Mutex::default(),
        });
        let (link, target) = (Arc::clone(&shared), target.to_owned());
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let link = Arc::clone(&link);
                thread::spawn(move || link.run(client, server));
            }
        });
        Self { addr, shared }
    }

    /// The next `times` `BEGIN`s get the fault.
    fn arm(&self, times: u64) {
        self.shared.armed.store(times, Ordering::SeqCst);
    }

    fn injected(&self) -> u64 {
        self.shared.injected.load(Ordering::SeqCst)
    }

    /// Every HELLO the clients sent, as framed on the wire.
    fn hellos(&self) -> Vec<Vec<u8>> {
        self.shared.hellos.lock().expect("lock").clone()
    }
}

impl Shared {
    /// One client connection through the relay.
    fn run(&self, mut client: TcpStream, mut server: TcpStream) {
        // Handshake: preamble and four versions, then the server's pick.
        let mut offer = [0_u8; 20];
        let mut pick = [0_u8; 4];
        let shaken = client.read_exact(&mut offer).is_ok()
            && server.write_all(&offer).is_ok()
            && server.read_exact(&mut pick).is_ok()
            && client.write_all(&pick).is_ok();
        if !shaken {
            return;
        }
        let to_client = Arc::new(Mutex::new(client.try_clone().expect("clone")));
        let (mut server_in, relay_addr, ttl) = (
            server.try_clone().expect("clone"),
            self.addr.clone(),
            self.ttl,
        );
        let answers = Arc::clone(&to_client);
        let down = thread::spawn(move || {
            while let Ok(raw) = read_message(&mut server_in) {
                let raw = rewrite_routing_table(raw, &relay_addr, ttl);
                if answers.lock().expect("lock").write_all(&raw).is_err() {
                    break;
                }
            }
            let _ = answers.lock().expect("lock").shutdown(Shutdown::Both);
        });
        let mut failed = false;
        while let Ok(raw) = read_message(&mut client) {
            let signature = raw.get(3).copied();
            if signature == Some(SIGNATURE_HELLO) {
                self.hellos.lock().expect("lock").push(raw.clone());
            }
            // Counts down on BEGIN only.
            let armed = signature == Some(SIGNATURE_BEGIN)
                && self
                    .armed
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if armed {
                self.injected.fetch_add(1, Ordering::SeqCst);
                if self.fault == Fault::CloseWriter {
                    break;
                }
                failed = true;
                let failure = Message::Failure(Failure::new(HashMap::from([
                    (
                        "code".to_owned(),
                        Value::from("Neo.ClientError.Cluster.NotALeader"),
                    ),
                    (
                        "message".to_owned(),
                        Value::from("No write operations are allowed on this database (relay)"),
                    ),
                ])));
                if send(&to_client, failure).is_err() {
                    break;
                }
                continue;
            }
            if failed && signature != Some(SIGNATURE_RESET) {
                if send(&to_client, Message::Ignored).is_err() {
                    break;
                }
                continue;
            }
            failed = false;
            if server.write_all(&raw).is_err() {
                break;
            }
        }
        let _ = server.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
        let _ = down.join();
    }
}

fn send(to: &Mutex<TcpStream>, message: Message) -> io::Result<()> {
    let chunks = message.into_chunks().map_err(io::Error::other)?;
    let mut to = to.lock().expect("lock");
    for chunk in chunks {
        to.write_all(&chunk)?;
    }
    Ok(())
}

/// One Bolt message as framed on the wire (chunks and the `00 00` end);
/// no-op chunks skipped.
fn read_message(from: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut raw = Vec::new();
    loop {
        let mut len = [0_u8; 2];
        from.read_exact(&mut len)?;
        let n = usize::from(u16::from_be_bytes(len));
        if n == 0 && raw.is_empty() {
            continue;
        }
        raw.extend_from_slice(&len);
        if n == 0 {
            return Ok(raw);
        }
        let start = raw.len();
        raw.resize(start + n, 0);
        from.read_exact(&mut raw[start..])?;
    }
}

/// `raw`, or, for a SUCCESS carrying a routing table, the same table with
/// every address replaced by `addr` (and the TTL by `ttl` if given).
fn rewrite_routing_table(raw: Vec<u8>, addr: &str, ttl: Option<i64>) -> Vec<u8> {
    if raw.get(3) != Some(&SIGNATURE_SUCCESS) {
        return raw;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let Ok(Message::Success(success)) = runtime.block_on(Message::from_stream(raw.as_slice()))
    else {
        return raw;
    };
    let mut metadata = success.metadata().clone();
    let Some(Value::Map(rt)) = metadata.get_mut("rt") else {
        return raw;
    };
    if let Some(ttl) = ttl {
        rt.insert("ttl".to_owned(), Value::from(ttl));
    }
    if let Some(Value::List(servers)) = rt.get_mut("servers") {
        for server in servers {
            if let Value::Map(server) = server
                && let Some(Value::List(addresses)) = server.get_mut("addresses")
            {
                for address in addresses {
                    *address = Value::from(addr);
                }
            }
        }
    }
    Message::Success(Success::new(metadata))
        .into_chunks()
        .expect("encode")
        .concat()
}

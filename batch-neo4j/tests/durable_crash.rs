//! The durable buffer against the real Bolt server (ArcadeDB) of `cargo
//! xtask services`: a producer (this test binary, run again as a child)
//! adds 50,000 items from 4 threads under `Fsync::Always`, node upserts
//! and relationships alternately, and is killed with SIGKILL; a new
//! creator on the same directory replays what it left. Afterwards the
//! graph holds every item whose `add` returned `Ok`, none that was never
//! added, each once, and the new creator's counters say what it replayed.

mod common;

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use batch_core::testing::crash::{self, Stored};
use batch_neo4j::{Neo4jBatchCreator, Neo4jSink, Properties, PropertyValue};
use common::{admin, config, unique};
use test_support::test_servers::{Service, pause_if};

const DIR: &str = "UDS3_NEO4J_CRASH_DIR";
const LABELS: &str = "UDS3_NEO4J_CRASH_LABELS";
const ITEMS: u64 = 50_000;
const THREADS: u64 = 4;

/// The three labels of one run: nodes upserted, and the two ends of the
/// relationships (seeded before the run).
struct Labels {
    node: String,
    doc: String,
    chunk: String,
}

impl Labels {
    fn new(prefix: &str) -> Self {
        Self {
            node: format!("{prefix}Node"),
            doc: format!("{prefix}Doc"),
            chunk: format!("{prefix}Chunk"),
        }
    }
}

fn creator(dir: &Path) -> Neo4jBatchCreator {
    let settings = crash::settings("neo4j-durable", dir);
    Neo4jBatchCreator::with_settings(config(), settings).expect("creator")
}

fn id(n: u64) -> String {
    format!("crash-{n:06}")
}

/// The child: adds the items from 4 threads, saying each, until killed.
/// Even ids are node upserts, odd ones relationships doc -> chunk.
#[test]
#[ignore = "the crash test's child process; it runs it"]
fn child() {
    let (Some(dir), Some(prefix)) = (std::env::var_os(DIR), std::env::var_os(LABELS)) else {
        return;
    };
    let labels = Labels::new(&prefix.to_string_lossy());
    let creator = creator(Path::new(&dir));
    crash::add_from_threads(THREADS, ITEMS, move |n| {
        let props = [("n", PropertyValue::Int(n as i64))];
        if n % 2 == 0 {
            creator.upsert_node(&labels.node, id(n), props).is_ok()
        } else {
            creator
                .add_relationship_between(
                    (&labels.doc, "doc"),
                    (&labels.chunk, &id(n)),
                    "HAS",
                    props,
                )
                .is_ok()
        }
    });
}

/// The ids of the first column of `cypher`'s rows.
fn ids(admin: &mut Neo4jSink, cypher: &str) -> Vec<u64> {
    admin
        .run_cypher(cypher, &Properties::new())
        .expect(cypher)
        .iter()
        .map(|row| match row.first() {
            Some(Some(PropertyValue::String(id))) => {
                id.trim_start_matches("crash-").parse().expect("a number")
            }
            other => panic!("{cypher}: {other:?}"),
        })
        .collect()
}

/// The ids of the nodes and of the relationships' chunks, and how many
/// elements hold them.
fn stored(labels: &Labels) -> Stored {
    let mut admin = admin();
    let mut all = ids(
        &mut admin,
        &format!("MATCH (n:{}) RETURN n.id", labels.node),
    );
    all.extend(ids(
        &mut admin,
        &format!(
            "MATCH (:{})-[:HAS]->(c:{}) RETURN c.id",
            labels.doc, labels.chunk
        ),
    ));
    let ids: HashSet<u64> = all.iter().copied().collect();
    Stored {
        ids,
        records: all.len(),
    }
}

/// The labels' indexes, the doc node and a chunk node for every odd id.
fn seed(labels: &Labels) {
    let mut admin = admin();
    admin
        .ensure_indexes(&[&labels.node, &labels.doc, &labels.chunk])
        .expect("indexes");
    for cypher in [
        format!("CREATE (:{} {{id: 'doc'}})", labels.doc),
        format!(
            "UNWIND range(0, {}) AS n CREATE (:{} {{id: 'crash-' + substring(toString(1000000 + n), 1)}})",
            ITEMS - 1,
            labels.chunk
        ),
    ] {
        admin
            .run_cypher(&cypher, &Properties::new())
            .expect(&cypher);
    }
}

#[test]
fn a_producer_killed_at_any_moment_loses_no_accepted_item() {
    for point in crash::kill_points(ITEMS as usize) {
        let dir = tempfile::tempdir().expect("dir");
        let prefix = unique("Crash");
        let labels = Labels::new(&prefix);
        seed(&labels);
        let said = crash::run_and_kill(
            "child",
            &[(DIR, dir.path().as_os_str()), (LABELS, OsStr::new(&prefix))],
            point.kill_after,
            // Requests go out and hang; the child dies with them in flight.
            |_| pause_if(point.pause, Service::Neo4j, Duration::from_millis(500)),
        );
        crash::verify_recovery(
            &point,
            &said,
            || stored(&labels),
            || {
                let reopened = creator(dir.path());
                (reopened.close(Duration::from_secs(120)), reopened.stats())
            },
        );
    }
}

//! The durable buffer against the real Chroma of `cargo xtask services`:
//! a producer (this test binary, run again as a child) adds 50,000
//! records from 4 threads under `Fsync::Always` and is killed with
//! SIGKILL; a new inserter on the same directory replays what it left.
//! Afterwards the collection holds every record whose `add` returned
//! `Ok`, none that was never added, and the new inserter's counters say
//! what it replayed (records the lost requests had stored count as
//! written, not as conflicts).

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, Collection, metadata};
use batch_core::testing::crash::{self, Stored};
use test_support::test_servers::{Service, pause_if};

const DIR: &str = "UDS3_CHROMA_CRASH_DIR";
const COLLECTION: &str = "UDS3_CHROMA_CRASH_COLLECTION";
const ITEMS: u64 = 50_000;
const THREADS: u64 = 4;
const DIM: usize = 8;

fn inserter(dir: &Path, collection: &Collection) -> ChromaBatchInserter {
    let settings = crash::settings("chroma-durable", dir);
    ChromaBatchInserter::with_settings(collection.clone(), settings).expect("inserter")
}

fn collection(name: &str) -> Collection {
    common::client()
        .get_or_create_collection(name, &metadata([("hnsw:space", "l2".into())]))
        .expect("collection")
}

fn id(n: u64) -> String {
    format!("crash-{n:06}")
}

/// The child: adds the records from 4 threads, saying each, until killed.
#[test]
#[ignore = "the crash test's child process; it runs it"]
fn child() {
    let (Some(dir), Some(name)) = (std::env::var_os(DIR), std::env::var_os(COLLECTION)) else {
        return;
    };
    let collection = collection(&name.to_string_lossy());
    let inserter = inserter(Path::new(&dir), &collection);
    crash::add_from_threads(THREADS, ITEMS, move |n| {
        let i = n as usize;
        inserter
            .add(id(n), common::vector(i, DIM), common::meta(i))
            .is_ok()
    });
}

/// The ids in the collection, and its record count.
fn stored(collection: &Collection) -> Stored {
    let all: Vec<String> = (0..ITEMS).map(id).collect();
    let mut ids = std::collections::HashSet::new();
    for chunk in all.chunks(5000) {
        let found = collection
            .existing_ids(chunk.iter().map(String::as_str))
            .expect("get");
        ids.extend(found.iter().map(|id| {
            id.trim_start_matches("crash-")
                .parse::<u64>()
                .expect("a number")
        }));
    }
    let records = collection.count().expect("count") as usize;
    Stored { ids, records }
}

#[test]
fn a_producer_killed_at_any_moment_loses_no_accepted_record() {
    for point in crash::kill_points(ITEMS as usize) {
        let dir = tempfile::tempdir().expect("dir");
        let collection = common::fresh_collection("durable-crash");
        let said = crash::run_and_kill(
            "child",
            &[
                (DIR, dir.path().as_os_str()),
                (COLLECTION, OsStr::new(collection.name())),
            ],
            point.kill_after,
            // Requests go out and hang; the child dies with them in flight.
            |_| pause_if(point.pause, Service::Chroma, Duration::from_millis(500)),
        );
        crash::verify_recovery(
            &point,
            &said,
            || stored(&collection),
            || {
                let reopened = inserter(dir.path(), &collection);
                (reopened.close(Duration::from_secs(120)), reopened.stats())
            },
        );
        let _ = common::client().delete_collection(collection.name());
    }
}

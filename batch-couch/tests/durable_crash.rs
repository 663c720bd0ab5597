//! The durable buffer against the real CouchDB (pouchdb-server) of
//! `cargo xtask services`: a producer (this test binary, run again as a
//! child) adds 50,000 documents from 4 threads under `Fsync::Always` and
//! is killed with SIGKILL; a new inserter on the same directory replays
//! what it left. Afterwards the database holds every document whose `add`
//! returned `Ok`, none that was never added, each once, and the new
//! inserter's counters say what it replayed.

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use batch_core::testing::crash::{self, Stored};
use batch_couch::{CouchDBBatchInserter, CouchDatabase, CouchOptions};
use serde_json::Value;
use test_support::test_servers::{Service, pause_if, require};

const DIR: &str = "UDS3_COUCH_CRASH_DIR";
const DB: &str = "UDS3_COUCH_CRASH_DB";
const ITEMS: u64 = 50_000;
const THREADS: u64 = 4;

fn inserter(dir: &Path, db: &CouchDatabase) -> CouchDBBatchInserter {
    let settings = crash::settings("couch-durable", dir);
    CouchDBBatchInserter::with_options(db.clone(), settings, CouchOptions::default())
        .expect("inserter")
}

fn database(name: &str) -> CouchDatabase {
    CouchDatabase::new(&require(Service::Couch), name).expect("database")
}

/// The child: adds the documents from 4 threads, saying each, until killed.
#[test]
#[ignore = "the crash test's child process; it runs it"]
fn child() {
    let (Some(dir), Some(name)) = (std::env::var_os(DIR), std::env::var_os(DB)) else {
        return;
    };
    let db = database(&name.to_string_lossy());
    let inserter = inserter(Path::new(&dir), &db);
    crash::add_from_threads(THREADS, ITEMS, move |id| {
        inserter
            .add(common::doc(id as usize), Some(&format!("crash-{id:06}")))
            .is_ok()
    });
}

/// The ids of the documents in the database, and how many there are.
fn stored(db: &CouchDatabase) -> Stored {
    let url = format!("{}/{}/_all_docs", db.server_url(), db.name());
    let answer: Value = ureq::get(&url)
        .call()
        .expect("_all_docs")
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_json()
        .expect("its rows");
    let rows = answer["rows"].as_array().expect("rows");
    let ids = rows
        .iter()
        .map(|row| {
            let id = row["id"].as_str().expect("an id");
            id.trim_start_matches("crash-").parse().expect("a number")
        })
        .collect();
    Stored {
        ids,
        records: rows.len(),
    }
}

#[test]
fn a_producer_killed_at_any_moment_loses_no_accepted_document() {
    for point in crash::kill_points(ITEMS as usize) {
        let dir = tempfile::tempdir().expect("dir");
        let db = common::fresh_db("durable_crash");
        let said = crash::run_and_kill(
            "child",
            &[(DIR, dir.path().as_os_str()), (DB, OsStr::new(db.name()))],
            point.kill_after,
            // Requests go out and hang; the child dies with them in flight.
            |_| pause_if(point.pause, Service::Couch, Duration::from_millis(500)),
        );
        crash::verify_recovery(
            &point,
            &said,
            || stored(&db),
            || {
                let reopened = inserter(dir.path(), &db);
                (reopened.close(Duration::from_secs(120)), reopened.stats())
            },
        );
        let _ = db.delete();
    }
}

//! The crate's Quick Start, runnable:
//!
//! ```text
//! cargo xtask services up couch
//! cargo run -p batch-couch --example quick_start
//! ```
//! Reads the server URL from `UDS3_COUCHDB_URL` (default
//! `http://127.0.0.1:25984`; put `user:password@` in it for a CouchDB with
//! authentication).

use std::time::Duration;

use batch_couch::{CouchDBBatchInserter, CouchDatabase};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("UDS3_COUCHDB_URL").unwrap_or_else(|_| "http://127.0.0.1:25984".into());
    let db = CouchDatabase::new(&url, "uds3_quick_start")?;
    db.create_if_missing()?;

    let inserter = CouchDBBatchInserter::new(db.clone(), 100)?;
    for i in 0..250 {
        let doc = json!({"type": "article", "title": format!("Article {i}")});
        // Run it twice: the second run counts 250 conflicts (already there).
        if let Err(failed) = inserter.add(doc, Some(&format!("article-{i}"))) {
            eprintln!("refused {}: {}", failed.item.id(), failed.error);
        }
    }
    // A document without an id gets a random one; this one is refused
    // before sending (ids starting with '_' are reserved).
    inserter
        .add(json!({"note": "no id given"}), None)
        .map_err(|f| f.error)?;
    if let Err(failed) = inserter.add(json!({"x": 1}), Some("_reserved")) {
        println!("refused before sending: {}", failed.error);
    }

    let report = inserter.close(Duration::from_secs(30));
    for failed in &report.failed {
        eprintln!("not written {}: {}", failed.item.id(), failed.error);
    }
    println!(
        "written {}, conflicts {}, failed {}",
        report.written,
        report.conflicts,
        report.failed.len()
    );
    println!("stats {:?}", inserter.get_stats());
    println!("doc_count {}", db.doc_count()?);
    Ok(())
}

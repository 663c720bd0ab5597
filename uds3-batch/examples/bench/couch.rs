//! CouchDB: the library's `_bulk_docs` batches against one plain
//! `_bulk_docs` of all documents.

use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_couch::{CouchDBBatchInserter, CouchDatabase};

use crate::corpus;
use crate::runner::{Backend, Mode, Run};

pub struct Couch {
    url: String,
    run_no: u64,
}

impl Couch {
    pub fn new(url: String) -> Self {
        Self { url, run_no: 0 }
    }

    fn fresh_db(&mut self) -> Result<CouchDatabase, String> {
        self.run_no += 1;
        let name = format!("uds3_bench_{}_{}", std::process::id(), self.run_no);
        let db = CouchDatabase::new(&self.url, &name).map_err(|e| e.to_string())?;
        db.create_if_missing().map_err(|e| e.to_string())?;
        Ok(db)
    }
}

impl Backend for Couch {
    fn name(&self) -> &'static str {
        "couchdb"
    }

    fn claimed(&self) -> &'static str {
        "100-500x"
    }

    fn batch_sizes(&self) -> Vec<usize> {
        vec![10, 100, 1000]
    }

    fn items(&self, mode: Mode, quick: bool) -> usize {
        match (mode, quick) {
            (Mode::PerItem, true) => 200,
            (Mode::PerItem, false) => 500,
            (_, true) => 3000,
            (_, false) => 6000,
        }
    }

    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String> {
        let db = self.fresh_db()?;
        let docs: Vec<(String, serde_json::Value)> = (0..items as u64)
            .map(|i| (format!("doc-{i:08}"), corpus::document(i)))
            .collect();
        let run = match mode {
            Mode::Raw => {
                let body = serde_json::json!({
                    "docs": docs.iter().map(|(id, doc)| {
                        let mut doc = doc.clone();
                        doc["_id"] = serde_json::Value::String(id.clone());
                        doc
                    }).collect::<Vec<_>>()
                });
                let bytes = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
                let url = format!(
                    "{}/{}/_bulk_docs",
                    self.url.trim_end_matches('/'),
                    db.name()
                );
                let started = Instant::now();
                let mut response = ureq::post(&url)
                    .header("Content-Type", "application/json")
                    .send(&bytes[..])
                    .map_err(|e| e.to_string())?;
                let text = response
                    .body_mut()
                    .with_config()
                    .limit(u64::MAX)
                    .read_to_string()
                    .map_err(|e| e.to_string())?;
                let seconds = started.elapsed().as_secs_f64();
                if text.contains("\"error\"") {
                    return Err("raw _bulk_docs reported per-document errors".into());
                }
                Run {
                    items,
                    seconds,
                    requests: 1,
                }
            }
            _ => {
                let inserter = Arc::new(
                    CouchDBBatchInserter::new(db.clone(), mode.batch_size())
                        .map_err(|e| e.to_string())?,
                );
                let threads = mode.threads();
                let docs = Arc::new(docs);
                let started = Instant::now();
                std::thread::scope(|scope| -> Result<(), String> {
                    let handles: Vec<_> = (0..threads)
                        .map(|t| {
                            let inserter = Arc::clone(&inserter);
                            let docs = Arc::clone(&docs);
                            scope.spawn(move || -> Result<(), String> {
                                for (id, doc) in docs.iter().skip(t).step_by(threads) {
                                    inserter
                                        .add(doc.clone(), Some(id))
                                        .map_err(|f| f.to_string())?;
                                }
                                Ok(())
                            })
                        })
                        .collect();
                    for h in handles {
                        h.join()
                            .map_err(|_| "adding thread panicked".to_owned())??;
                    }
                    Ok(())
                })?;
                let report = inserter.close(Duration::from_secs(300));
                let seconds = started.elapsed().as_secs_f64();
                if !report.is_complete() {
                    return Err(format!(
                        "{} docs failed, {} pending",
                        report.failed.len(),
                        report.pending
                    ));
                }
                let stats = inserter.stats();
                Run {
                    items: stats.total_added as usize,
                    seconds,
                    requests: stats.total_requests,
                }
            }
        };
        let stored = db.doc_count().map_err(|e| e.to_string())?;
        if stored != items as u64 {
            return Err(format!("{stored} of {items} docs stored"));
        }
        let _ = db.delete();
        Ok(run)
    }
}

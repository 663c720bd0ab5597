//! CouchDB: the library's `_bulk_docs` batches against one plain
//! `_bulk_docs` of all documents.

use batch_core::tls::TlsSettings;
use batch_couch::{CouchDBBatchInserter, CouchDatabase};
use test_support::test_servers::Endpoints;

use crate::backend::Backend;
use crate::corpus;
use crate::drive::{CLOSE_TIMEOUT, Run, drive_many, post_each, raw_chunk, timed};
use crate::mode::{Mode, Profile};

pub struct Couch {
    url: String,
    tls_url: String,
    /// Trusts the test CA only, for the TLS endpoint.
    tls: TlsSettings,
    run_no: u64,
}

impl Couch {
    pub fn new(endpoints: &Endpoints) -> Self {
        Self {
            url: endpoints.couchdb_url.clone(),
            tls_url: endpoints.couchdb_tls_url.clone(),
            tls: TlsSettings::new()
                .public_roots(false)
                .ca_file(&endpoints.tls_ca_file),
            run_no: 0,
        }
    }

    fn fresh_db(&mut self, tls: bool) -> Result<CouchDatabase, String> {
        self.run_no += 1;
        let name = format!("uds3_bench_{}_{}", std::process::id(), self.run_no);
        let db = if tls {
            CouchDatabase::new(&self.tls_url, &name)
                .map(|db| db.tls(self.tls.clone()))
                .map_err(|e| e.to_string())?
        } else {
            CouchDatabase::new(&self.url, &name).map_err(|e| e.to_string())?
        };
        db.create_if_missing().map_err(|e| e.to_string())?;
        Ok(db)
    }
}

const PROFILE: Profile = Profile {
    name: "couch",
    claimed: "100-500x",
    batch_sizes: &[10, 100, 1000],
    per_item: (200, 500),
    batched: (2000, 6000),
    large: (3000, 10_000),
};

impl Backend for Couch {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn durable(&self) -> bool {
        true
    }

    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String> {
        let db = self.fresh_db(mode.is_tls())?;
        let docs: Vec<(String, serde_json::Value)> = (0..items as u64)
            .map(|i| (format!("doc-{i:08}"), corpus::document(i)))
            .collect();
        let run = match mode {
            Mode::Raw(_) | Mode::Ceiling => {
                // The library's request: `_bulk_docs`, one per batch for
                // Raw, one of all for Ceiling.
                let url = format!(
                    "{}/{}/_bulk_docs",
                    self.url.trim_end_matches('/'),
                    db.name()
                );
                post_each(
                    docs,
                    raw_chunk(mode, items),
                    |chunk| {
                        // Each document moves into the body, as the
                        // library's own documents move into the inserter.
                        let body = serde_json::to_vec(&serde_json::json!({
                            "docs": chunk.iter_mut().map(|(id, doc)| {
                                let mut doc = std::mem::take(doc);
                                doc["_id"] = serde_json::Value::String(std::mem::take(id));
                                doc
                            }).collect::<Vec<_>>()
                        }))
                        .map_err(|e| e.to_string())?;
                        Ok(vec![(url.clone(), body)])
                    },
                    |text| {
                        if text.contains("\"error\"") {
                            Err("raw _bulk_docs reported per-document errors".into())
                        } else {
                            Ok(())
                        }
                    },
                )?
            }
            _ => {
                let (settings, _buffer) = mode.settings("bench-couch")?;
                let (inserter, setup) = timed(|| {
                    CouchDBBatchInserter::with_settings(db.clone(), settings)
                        .map_err(|e| e.to_string())
                })?;
                drive_many(
                    docs,
                    mode,
                    |(id, doc)| inserter.add(doc, Some(&id)).map_err(|f| f.to_string()),
                    |docs| {
                        // Moved in, as `add` takes them.
                        let (ids, docs): (Vec<String>, Vec<_>) = docs.into_iter().unzip();
                        let ids = ids.iter().map(|id| Some(id.as_str()));
                        inserter
                            .add_many(docs.into_iter().zip(ids))
                            .map_err(|f| f.to_string())
                    },
                    || {
                        (
                            inserter.close(CLOSE_TIMEOUT),
                            inserter.stats(),
                            inserter.timings(),
                        )
                    },
                )?
                .after_setup(setup)
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

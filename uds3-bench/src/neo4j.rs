//! Neo4j (Bolt): the library's grouped `UNWIND ... MERGE` batches against
//! the same statement sent per batch without it (raw) and one plain
//! `UNWIND` of all rows (ceiling), on nodes created before the clock
//! starts. Raw and ceiling go over Bolt connections of their own.

use std::time::Instant;

use batch_neo4j::{
    CypherParams, CypherSession, CypherValue, Neo4jBatchCreator, Neo4jConfig, Neo4jSink,
    Properties, PropertyValue,
};
use test_support::test_servers::Endpoints;

use crate::backend::Backend;
use crate::drive::{CLOSE_TIMEOUT, Run, drive, timed};
use crate::mode::{Mode, Profile};

const DOC: &str = "BenchDoc";
const CHUNK: &str = "BenchChunk";
const CHUNKS_PER_DOC: usize = 20;

pub struct Neo4j {
    config: Neo4jConfig,
    /// The same server behind its TLS endpoint (`bolt+s`), trusting the
    /// test CA.
    tls_config: Neo4jConfig,
    admin: Option<Neo4jSink>,
    raw: Option<CypherSession>,
    nodes: usize,
}

impl Neo4j {
    pub fn new(endpoints: &Endpoints) -> Result<Self, String> {
        let config = Neo4jConfig::new(
            &endpoints.neo4j_uri,
            endpoints.neo4j_user.as_str(),
            endpoints.neo4j_password.as_str(),
        )
        .and_then(|c| c.labels(DOC, CHUNK))
        .map_err(|e| e.to_string())?;
        let tls_config = Neo4jConfig::new(
            &endpoints.neo4j_tls_uri,
            endpoints.neo4j_user.as_str(),
            endpoints.neo4j_password.as_str(),
        )
        .and_then(|c| c.labels(DOC, CHUNK))
        .map_err(|e| format!("UDS3_NEO4J_TLS_URI: {e}"))?
        .ca_file(&endpoints.tls_ca_file);
        Ok(Self {
            config,
            tls_config,
            admin: None,
            raw: None,
            nodes: 0,
        })
    }

    /// A connection of the raw path's own (batch-neo4j's connection code
    /// without the batcher), to the library's default database.
    fn connect_raw(&self) -> Result<CypherSession, String> {
        CypherSession::connect(self.config.clone().timeout(CLOSE_TIMEOUT))
            .map_err(|e| e.to_string())
    }

    /// The ceiling's connection, kept between runs.
    fn raw(&mut self) -> Result<&mut CypherSession, String> {
        if self.raw.is_none() {
            self.raw = Some(self.connect_raw()?);
        }
        self.raw
            .as_mut()
            .ok_or_else(|| "no raw connection".to_owned())
    }

    fn admin(&mut self) -> Result<&mut Neo4jSink, String> {
        if self.admin.is_none() {
            let mut sink = Neo4jSink::connect(self.config.clone()).map_err(|e| e.to_string())?;
            sink.ensure_indexes(&[DOC, CHUNK])
                .map_err(|e| e.to_string())?;
            self.admin = Some(sink);
        }
        self.admin
            .as_mut()
            .ok_or_else(|| "no admin connection".to_owned())
    }

    fn cypher(
        &mut self,
        cypher: &str,
        params: Properties,
    ) -> Result<Vec<Vec<Option<PropertyValue>>>, String> {
        self.admin()?
            .run_cypher(cypher, &params)
            .map_err(|e| e.to_string())
    }

    /// Creates the chunk and document nodes the relationships need (once,
    /// untimed), and removes the relationships of the previous run.
    fn prepare(&mut self, items: usize) -> Result<(), String> {
        if self.nodes < items {
            let ids = |prefix: &str, range: std::ops::Range<usize>| -> PropertyValue {
                PropertyValue::List(
                    range
                        .map(|i| PropertyValue::from(format!("{prefix}-{i:08}")))
                        .collect(),
                )
            };
            let docs = items.div_ceil(CHUNKS_PER_DOC);
            let from_doc = self.nodes.div_ceil(CHUNKS_PER_DOC);
            self.cypher(
                &format!("UNWIND $ids AS id MERGE (:{CHUNK} {{id: id}})"),
                Properties::from([("ids".to_owned(), ids("chunk", self.nodes..items))]),
            )?;
            self.cypher(
                &format!("UNWIND $ids AS id MERGE (:{DOC} {{id: id}})"),
                Properties::from([("ids".to_owned(), ids("doc", from_doc..docs))]),
            )?;
            self.nodes = items;
        }
        self.cypher(
            &format!("MATCH (:{DOC})-[r]->(:{CHUNK}) DELETE r"),
            Properties::new(),
        )?;
        Ok(())
    }

    fn count(&mut self) -> Result<u64, String> {
        let rows = self.cypher(
            &format!("MATCH (:{DOC})-[r:HAS_CHUNK]->(:{CHUNK}) RETURN count(r)"),
            Properties::new(),
        )?;
        match rows.first().and_then(|r| r.first()) {
            Some(Some(PropertyValue::Int(n))) => Ok(*n as u64),
            other => Err(format!("unexpected count answer {other:?}")),
        }
    }
}

fn rel(i: usize) -> (String, String, i64) {
    (
        format!("doc-{:08}", i / CHUNKS_PER_DOC),
        format!("chunk-{i:08}"),
        (i % CHUNKS_PER_DOC) as i64,
    )
}

const PROFILE: Profile = Profile {
    name: "neo4j",
    claimed: "~100x",
    batch_sizes: &[10, 100, 1000, 5000],
    per_item: (300, 600),
    batched: (5000, 10_000),
    large: (5000, 60_000),
};

impl Backend for Neo4j {
    fn profile(&self) -> &'static Profile {
        &PROFILE
    }

    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String> {
        self.prepare(items)?;
        let run = match mode {
            Mode::Raw(batch_size) => {
                // The library's own statement (its grouped MERGE with the
                // created flag, from `Neo4jConfig::relationship_statement`)
                // and rows, one explicit transaction per batch as the
                // library sends them, on a Bolt connection of its own.
                let cypher = self
                    .config
                    .relationship_statement("HAS_CHUNK")
                    .map_err(|e| e.to_string())?;
                // From nothing, as a new creator starts: its own connection.
                let started = Instant::now();
                let mut raw = self.connect_raw()?;
                let mut requests = 0;
                for start in (0..items).step_by(batch_size.max(1)) {
                    let end = (start + batch_size).min(items);
                    let rows = || {
                        let rows: Vec<CypherValue> = (start..end)
                            .map(|i| {
                                let (from, to, order) = rel(i);
                                CypherValue::from([
                                    ("i", ((i - start) as i64).into()),
                                    ("from", from.into()),
                                    ("to", to.into()),
                                    ("props", CypherValue::from([("order", order.into())])),
                                ])
                            })
                            .collect();
                        CypherParams::from([("rows".to_owned(), rows.into())])
                    };
                    let created = raw
                        .run_in_transaction(&cypher, rows)
                        .map_err(|e| e.to_string())?
                        .len();
                    if created != end - start {
                        return Err(format!("raw batch at {start}: {created} rows answered"));
                    }
                    requests += 1;
                }
                let seconds = started.elapsed().as_secs_f64();
                drop(raw);
                Run {
                    items,
                    seconds,
                    requests,
                    add_us: None,
                    handoff: None,
                }
            }
            Mode::Ceiling => {
                // The server's fastest path: one plain UNWIND MERGE of all
                // rows (no created flag, no returned rows), auto-commit.
                let cypher = format!(
                    "UNWIND $rows AS row \
                     MATCH (a:{DOC} {{id: row.from}}) MATCH (b:{CHUNK} {{id: row.to}}) \
                     MERGE (b)<-[r:HAS_CHUNK]-(a) SET r.order = row.order"
                );
                let rows: Vec<CypherValue> = (0..items)
                    .map(|i| {
                        let (from, to, order) = rel(i);
                        CypherValue::from([
                            ("from", from.into()),
                            ("to", to.into()),
                            ("order", order.into()),
                        ])
                    })
                    .collect();
                let params = CypherParams::from([("rows".to_owned(), rows.into())]);
                let raw = self.raw()?;
                let started = Instant::now();
                raw.run(&cypher, params).map_err(|e| e.to_string())?;
                Run {
                    items,
                    seconds: started.elapsed().as_secs_f64(),
                    requests: 1,
                    add_us: None,
                    handoff: None,
                }
            }
            _ => {
                let (settings, _buffer) = mode.settings("bench-neo4j")?;
                let config = if mode.is_tls() {
                    &self.tls_config
                } else {
                    &self.config
                };
                let (creator, setup) = timed(|| {
                    Neo4jBatchCreator::with_settings(config.clone(), settings)
                        .map_err(|e| e.to_string())
                })?;
                let rows: Vec<usize> = (0..items).collect();
                drive(
                    rows,
                    mode,
                    |i| {
                        let (from, to, order) = rel(i);
                        creator
                            .add_relationship(from, to, "HAS_CHUNK", [("order", order.into())])
                            .map_err(|f| f.to_string())
                    },
                    || {
                        (
                            creator.close(CLOSE_TIMEOUT),
                            creator.stats(),
                            creator.timings(),
                        )
                    },
                )?
                .after_setup(setup)
            }
        };
        let count = self.count()?;
        if count != items as u64 {
            return Err(format!("{count} of {items} relationships in the graph"));
        }
        Ok(run)
    }
}

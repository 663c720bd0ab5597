//! Issue 17's rows: one read per id against the batch reader of each store
//! (100 ids), the parallel read of the four stores against the same four
//! batch reads in sequence and against the slowest store alone, and whole
//! documents through `DocumentIngest` (with verdicts) against the four
//! batchers fed the same parts.

use std::time::{Duration, Instant};

use test_support::test_servers::Endpoints;
use uds3_batch::batch_core::read::{BatchReader, ReadSource};
use uds3_batch::chroma::{
    ChromaBatchInserter, ChromaClient, ChromaDBBatchReader, ChromaRecord, Collection, metadata,
};
use uds3_batch::couch::{CouchDBBatchInserter, CouchDBBatchReader, CouchDatabase};
use uds3_batch::neo4j::{
    GraphItem, Neo4jBatchCreator, Neo4jConfig, Neo4jSink, NodesByLabel, Properties, PropertyValue,
};
use uds3_batch::postgres::{
    Connector, DOCUMENT_COLUMNS, DocumentRow, DocumentsTable, PostgreSQLBatchInserter,
    PostgreSQLBatchReader, TableName,
};
use uds3_batch::{BatcherSettings, DocumentIngest, ParallelBatchReader, Uds3Document, Uds3Stores};

use crate::corpus;
use crate::drive::CLOSE_TIMEOUT;
use crate::stats::median;

/// Ids per read (UDS3 v2.3's claim is at 100).
pub const IDS: usize = 100;
/// Documents each store holds for the reads.
const STORED: usize = 1000;
/// Dimensions of the vectors (as the write rows).
const DIM: usize = 384;
/// Documents per ingest run, and chunks per document.
const INGEST_DOCS: usize = 1000;
const CHUNKS: usize = 4;
/// Threads adding documents in the ingest rows.
const THREADS: usize = 4;

/// One row of the read and ingest table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReadRecord {
    /// A backend, `all` (parallel read) or `ingest`.
    pub backend: String,
    /// `read`, `parallel-read` or `ingest`.
    pub mode: String,
    pub rtt_ms: u32,
    /// Ids per read, or documents per ingest run.
    pub items: usize,
    /// Reads: seconds of one read of `items` ids one by one (median), or
    /// of the four batch reads in sequence; ingest: the four batchers.
    pub reference_s: f64,
    /// Reads: one batch read; parallel: the parallel read; ingest:
    /// `DocumentIngest`.
    pub library_s: f64,
    /// Parallel rows: the slowest store's own batch read, in the same round.
    pub slowest_s: Option<f64>,
    /// Median of per-round ratios: reference / library (read speedup),
    /// library / slowest (parallel), library rate / reference rate (ingest).
    pub ratio: f64,
    pub rounds: usize,
}

/// The four stores' targets, made once per round trip.
struct Targets {
    pg: Connector,
    table: TableName,
    couch: CouchDatabase,
    chroma: Collection,
    graph: Neo4jConfig,
    label: String,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn plaintext_pg(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

fn graph_config(endpoints: &Endpoints) -> Result<Neo4jConfig, String> {
    Neo4jConfig::new(
        &endpoints.neo4j_uri,
        endpoints.neo4j_user.as_str(),
        endpoints.neo4j_password.as_str(),
    )
    .map_err(err)
}

/// New, empty targets named `uds3_bench_{what}_{pid}_{n}`.
fn targets(endpoints: &Endpoints, what: &str, n: u64) -> Result<Targets, String> {
    let name = format!("uds3_bench_{what}_{}_{n}", std::process::id());
    let couch = CouchDatabase::new(&endpoints.couchdb_url, &name).map_err(err)?;
    couch.create_if_missing().map_err(err)?;
    let chroma = ChromaClient::new(&endpoints.chroma_url)
        .and_then(|c| c.get_or_create_collection(&name, &Default::default()))
        .map_err(err)?;
    Ok(Targets {
        pg: Connector::from_url(&plaintext_pg(&endpoints.postgres_url)).map_err(err)?,
        table: TableName::new(name.clone()).map_err(err)?,
        couch,
        chroma,
        graph: graph_config(endpoints)?,
        label: format!("B{}", name.replace('_', "")),
    })
}

fn doc_id(i: usize) -> String {
    format!("doc-{i:06}")
}

fn row(i: usize) -> DocumentRow {
    DocumentRow::new(doc_id(i), format!("/corpus/{i}.txt"), "judgment", 1000, 7).quality_score(0.5)
}

fn record(id: String, seed: usize) -> ChromaRecord {
    ChromaRecord::new(
        id,
        corpus::embedding(seed as u64, DIM),
        metadata([("n", (seed as i64).into())]),
    )
}

fn settings(batch_size: usize) -> Result<BatcherSettings, String> {
    BatcherSettings::builder()
        .name("bench-reads")
        .batch_size(batch_size)
        .build()
        .map_err(err)
}

/// `STORED` documents in each store: a row, a body, a vector and a node
/// per id, written with the library.
fn seed(t: &Targets) -> Result<(), String> {
    let stores = Uds3Stores::new(
        t.pg.clone(),
        t.table.clone(),
        t.couch.clone(),
        t.chroma.clone(),
        t.graph.clone(),
    );
    let ingest = DocumentIngest::new(stores, settings(500)?).map_err(err)?;
    ingest
        .graph()
        .ensure_indexes_for(&[t.label.as_str()])
        .map_err(err)?;
    for i in 0..STORED {
        ingest.add(
            Uds3Document::new(doc_id(i))
                .row(row(i))
                .body(corpus::document(i as u64))
                .chunk(record(doc_id(i), i))
                .node(&t.label, doc_id(i), Properties::new()),
        );
    }
    let verdicts = ingest.close(CLOSE_TIMEOUT);
    if verdicts.complete() != STORED {
        return Err(format!(
            "seeding the reads: {} of {STORED} documents complete: {:?}",
            verdicts.complete(),
            verdicts.incomplete().next()
        ));
    }
    Ok(())
}

/// The ids of round `round`: 90 distinct stored ones, 10 not stored.
fn ids(round: usize) -> Vec<String> {
    let mut rng = corpus::Rng::new(round as u64 + 17);
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::with_capacity(IDS);
    while ids.len() < IDS - IDS / 10 {
        let i = (rng.next() % STORED as u64) as usize;
        if seen.insert(i) {
            ids.push(doc_id(i));
        }
    }
    ids.extend((0..IDS / 10).map(|k| format!("absent-{round}-{k}")));
    ids
}

/// One id read alone, with the store's own single-document call: whether
/// the store holds it.
type ReadOne = Box<dyn FnMut(&str) -> Result<bool, String>>;

/// A store read one id per request, as without the batch reader, and with
/// it.
struct Store<S> {
    name: &'static str,
    one: ReadOne,
    reader: BatchReader<S>,
}

/// A [`Store`] of any backend, for the rows' loop.
trait Reads {
    fn name(&self) -> &'static str;
    /// Reads `ids` one by one; returns how many were found.
    fn one_by_one(&mut self, ids: &[String]) -> Result<usize, String>;
    /// Reads `ids` with the batch reader; returns how many were found.
    fn batch(&mut self, ids: &[String]) -> Result<usize, String>;
}

impl<S: ReadSource> Reads for Store<S> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn one_by_one(&mut self, ids: &[String]) -> Result<usize, String> {
        let mut found = 0;
        for id in ids {
            found += usize::from((self.one)(id)?);
        }
        Ok(found)
    }
    fn batch(&mut self, ids: &[String]) -> Result<usize, String> {
        Ok(self.reader.get_many(ids).map_err(err)?.found.len())
    }
}

/// Each store with its single-document call, and the four batch readers
/// at once (sharing the stores' readers).
fn stores(t: &Targets) -> Result<(Vec<Box<dyn Reads>>, ParallelBatchReader), String> {
    let rows = PostgreSQLBatchReader::new(DocumentsTable::new(t.pg.clone(), t.table.clone()));
    let docs = CouchDBBatchReader::new(t.couch.clone());
    let vectors = ChromaDBBatchReader::new(t.chroma.clone());
    let nodes = BatchReader::new(NodesByLabel::new(t.graph.clone(), &t.label).map_err(err)?);
    let parallel = ParallelBatchReader::new()
        .postgres(rows.clone())
        .couch(docs.clone())
        .chroma(vectors.clone())
        .neo4j(nodes.clone());

    let mut client = t.pg.connect().map_err(err)?;
    let one_row = client
        .prepare(&format!(
            "SELECT {} FROM {} WHERE document_id = $1",
            DOCUMENT_COLUMNS.join(", "),
            t.table.quoted()
        ))
        .map_err(err)?;
    let db = t.couch.clone();
    let collection = t.chroma.clone();
    let mut sink = Neo4jSink::connect(t.graph.clone()).map_err(err)?;
    let one_node = format!("MATCH (n:{} {{id: $id}}) RETURN n", t.label);
    let stores: Vec<Box<dyn Reads>> = vec![
        Box::new(Store {
            name: "postgres",
            one: Box::new(move |id| Ok(client.query_opt(&one_row, &[&id]).map_err(err)?.is_some())),
            reader: rows,
        }),
        Box::new(Store {
            name: "couch",
            one: Box::new(move |id| Ok(db.get(id).map_err(err)?.is_some())),
            reader: docs,
        }),
        Box::new(Store {
            name: "chroma",
            one: Box::new(move |id| Ok(!collection.get(&[id]).map_err(err)?.ids.is_empty())),
            reader: vectors,
        }),
        Box::new(Store {
            name: "neo4j",
            one: Box::new(move |id| {
                let params = Properties::from([("id".to_owned(), PropertyValue::from(id))]);
                Ok(!sink.run_cypher(&one_node, &params).map_err(err)?.is_empty())
            }),
            reader: nodes,
        }),
    ];
    Ok((stores, parallel))
}

/// Repetitions of each timed read, so that one sample is not a single
/// millisecond: fewer across a slow network.
fn reps(rtt_ms: u32) -> usize {
    match rtt_ms {
        0 => 30,
        1..10 => 5,
        _ => 1,
    }
}

/// Seconds per call of `read`, over `reps` calls; checks what it found.
fn per_call(
    reps: usize,
    expect: usize,
    mut read: impl FnMut() -> Result<usize, String>,
) -> Result<f64, String> {
    let started = Instant::now();
    for _ in 0..reps {
        let found = read()?;
        if found != expect {
            return Err(format!("a read found {found} ids, expected {expect}"));
        }
    }
    Ok(started.elapsed().as_secs_f64() / reps as f64)
}

/// The read rows at one round trip: per store, one by one against batch;
/// then parallel against sequence and the slowest store.
pub fn reads(
    endpoints: &Endpoints,
    rtt_ms: u32,
    rounds: usize,
    say: &dyn Fn(String),
) -> Result<Vec<ReadRecord>, String> {
    let began = Instant::now();
    let t = targets(endpoints, "reads", u64::from(rtt_ms))?;
    seed(&t)?;
    let (mut stores, parallel) = stores(&t)?;
    let reps = reps(rtt_ms);
    // Warm every connection (and PostgreSQL's prepared statements).
    let warm = ids(usize::MAX / 2);
    for store in &mut stores {
        store.one_by_one(&warm[..1])?;
        store.batch(&warm)?;
    }
    parallel.get_many(&warm);
    let n = stores.len();
    let (mut one, mut batch) = (vec![Vec::new(); n], vec![Vec::new(); n]);
    let (mut sequence, mut together, mut slowest) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let ids = ids(round);
        let expect = IDS - IDS / 10;
        let mut batch_s = Vec::new();
        for (s, store) in stores.iter_mut().enumerate() {
            // Take turns going first.
            let (a, b) = if round % 2 == 0 {
                let a = per_call(1, expect, || store.one_by_one(&ids))?;
                (a, per_call(reps, expect, || store.batch(&ids))?)
            } else {
                let b = per_call(reps, expect, || store.batch(&ids))?;
                (per_call(1, expect, || store.one_by_one(&ids))?, b)
            };
            one[s].push(a);
            batch[s].push(b);
            batch_s.push(b);
        }
        let check = |reads: uds3_batch::DocumentReads| -> Result<usize, String> {
            let pg = reads.postgres.ok_or("no PostgreSQL answer")?.map_err(err)?;
            for answered in [
                reads.couch.map(|r| r.map(|l| l.found.len()).map_err(err)),
                reads.chroma.map(|r| r.map(|l| l.found.len()).map_err(err)),
                reads.neo4j.map(|r| r.map(|l| l.found.len()).map_err(err)),
            ] {
                if answered.ok_or("a store did not answer")?? != pg.found.len() {
                    return Err("the stores disagree on what they hold".to_owned());
                }
            }
            Ok(pg.found.len())
        };
        let in_sequence = per_call(reps, expect, || check(parallel.get_many_in_sequence(&ids)))?;
        let at_once = per_call(reps, expect, || check(parallel.get_many(&ids)))?;
        sequence.push(in_sequence);
        together.push(at_once);
        slowest.push(batch_s.iter().copied().fold(0.0, f64::max));
    }
    let mut records = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        let ratios = one[s].iter().zip(&batch[s]).map(|(a, b)| a / b).collect();
        records.push(ReadRecord {
            backend: store.name().to_owned(),
            mode: "read".to_owned(),
            rtt_ms,
            items: IDS,
            reference_s: median(one[s].clone()),
            library_s: median(batch[s].clone()),
            slowest_s: None,
            ratio: median(ratios),
            rounds,
        });
    }
    let ratios = together.iter().zip(&slowest).map(|(p, s)| p / s).collect();
    records.push(ReadRecord {
        backend: "all".to_owned(),
        mode: "parallel-read".to_owned(),
        rtt_ms,
        items: IDS,
        reference_s: median(sequence),
        library_s: median(together),
        slowest_s: Some(median(slowest)),
        ratio: median(ratios),
        rounds,
    });
    say(format!(
        "reads at rtt {rtt_ms} ms: {rounds} rounds in {:.0} s",
        began.elapsed().as_secs_f64()
    ));
    Ok(records)
}

/// Document `i` of the ingest rows: a row, a body, `CHUNKS` vectors, a
/// node per chunk and one for the document, a relationship per chunk.
fn ingest_document(label: &str, i: usize) -> Uds3Document {
    let id = doc_id(i);
    let mut doc = Uds3Document::new(&id)
        .row(row(i))
        .body(corpus::document(i as u64))
        .node(label, &id, Properties::new());
    for c in 0..CHUNKS {
        let chunk = format!("{id}#{c}");
        doc = doc
            .chunk(record(chunk.clone(), i * CHUNKS + c))
            .node(label, &chunk, Properties::new())
            .relationship((label, &id), "HAS_CHUNK", (label, &chunk));
    }
    doc
}

/// One ingest run: `INGEST_DOCS` documents from `THREADS` threads, into
/// new targets, through `DocumentIngest` (with verdicts) or through the
/// four batchers fed the same parts. Seconds from building to closed.
fn ingest_run(endpoints: &Endpoints, with_verdicts: bool, n: u64) -> Result<f64, String> {
    let t = targets(endpoints, "ingest", n)?;
    let docs: Vec<Uds3Document> = (0..INGEST_DOCS)
        .map(|i| ingest_document(&t.label, i))
        .collect();
    let started = Instant::now();
    if with_verdicts {
        let stores = Uds3Stores::new(t.pg, t.table, t.couch, t.chroma, t.graph);
        let ingest = DocumentIngest::new(stores, settings(250)?).map_err(err)?;
        share(docs, |doc| ingest.add(doc));
        let verdicts = ingest.close(CLOSE_TIMEOUT);
        if verdicts.complete() != INGEST_DOCS {
            return Err(format!(
                "ingest: {} of {INGEST_DOCS} complete",
                verdicts.complete()
            ));
        }
    } else {
        let rows =
            PostgreSQLBatchInserter::with_table(t.pg, t.table, settings(250)?).map_err(err)?;
        rows.ensure_schema().map_err(err)?;
        t.couch.create_if_missing().map_err(err)?;
        let bodies = CouchDBBatchInserter::with_settings(t.couch, settings(250)?).map_err(err)?;
        let vectors = ChromaBatchInserter::with_settings(t.chroma, settings(250)?).map_err(err)?;
        let graph = Neo4jBatchCreator::with_settings(t.graph, settings(250)?).map_err(err)?;
        let counted = std::sync::atomic::AtomicUsize::new(0);
        share(docs, |doc| {
            let refused = [
                doc.row.map(|r| rows.add(r).is_err()),
                doc.body.map(|b| bodies.add(b, Some(&doc.id)).is_err()),
            ];
            let chunks = doc
                .chunks
                .into_iter()
                .map(|c| vectors.add_record(c).is_err());
            let nodes = doc
                .nodes
                .into_iter()
                .map(|n| graph.add(GraphItem::Node(Box::new(n))).is_err());
            let rels = doc
                .relationships
                .into_iter()
                .map(|r| graph.add(GraphItem::Relationship(Box::new(r))).is_err());
            let failed = refused
                .into_iter()
                .flatten()
                .chain(chunks)
                .chain(nodes)
                .chain(rels)
                .filter(|&e| e)
                .count();
            counted.fetch_add(failed, std::sync::atomic::Ordering::Relaxed);
        });
        if counted.into_inner() > 0 {
            return Err("batchers: parts refused at add".to_owned());
        }
        let failed = rows.close(CLOSE_TIMEOUT).failed.len()
            + bodies.close(CLOSE_TIMEOUT).failed.len()
            + vectors.close(CLOSE_TIMEOUT).failed.len()
            + graph.close(CLOSE_TIMEOUT).failed.len();
        if failed > 0 {
            return Err(format!("batchers: {failed} parts failed"));
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Thread `t` of `THREADS` adds every `t`-th document.
fn share(docs: Vec<Uds3Document>, add: impl Fn(Uds3Document) + Sync) {
    let mut lanes: Vec<Vec<Uds3Document>> = (0..THREADS).map(|_| Vec::new()).collect();
    for (i, doc) in docs.into_iter().enumerate() {
        lanes[i % THREADS].push(doc);
    }
    std::thread::scope(|scope| {
        for lane in lanes {
            let add = &add;
            scope.spawn(move || lane.into_iter().for_each(add));
        }
    });
}

/// The ingest row: documents/s with verdicts over the batchers alone.
pub fn ingest(
    endpoints: &Endpoints,
    rtt_ms: u32,
    rounds: usize,
    say: &dyn Fn(String),
) -> Result<ReadRecord, String> {
    let began = Instant::now();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let n = round as u64 * 2;
        let (a, b) = if round % 2 == 0 {
            let a = ingest_run(endpoints, true, n)?;
            (a, ingest_run(endpoints, false, n + 1)?)
        } else {
            let b = ingest_run(endpoints, false, n + 1)?;
            (ingest_run(endpoints, true, n)?, b)
        };
        with.push(a);
        without.push(b);
        std::thread::sleep(Duration::from_millis(200));
    }
    let ratios = with.iter().zip(&without).map(|(w, b)| b / w).collect();
    say(format!(
        "ingest at rtt {rtt_ms} ms: {rounds} rounds in {:.0} s",
        began.elapsed().as_secs_f64()
    ));
    Ok(ReadRecord {
        backend: "ingest".to_owned(),
        mode: "ingest".to_owned(),
        rtt_ms,
        items: INGEST_DOCS,
        reference_s: median(without),
        library_s: median(with),
        slowest_s: None,
        ratio: median(ratios),
        rounds,
    })
}

/// The table of the read and ingest rows, with issue 17's goals.
pub fn table(records: &[ReadRecord]) -> String {
    let mut s = String::from(
        "| row | rtt ms | ids or documents | without | with the library | ratio | goal |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    let ms = |x: f64| format!("{:.2} ms", x * 1000.0);
    for r in records {
        let (name, without, with, ratio, goal) = match r.mode.as_str() {
            "read" => (
                format!("{} read, one request per id / batch reader", r.backend),
                ms(r.reference_s),
                ms(r.library_s),
                format!("{:.1}x", r.ratio),
                if r.ratio >= 20.0 {
                    ">= 20x: met"
                } else {
                    ">= 20x: not met"
                },
            ),
            "parallel-read" => (
                format!(
                    "four stores: in sequence / parallel (slowest alone {})",
                    ms(r.slowest_s.unwrap_or(0.0))
                ),
                ms(r.reference_s),
                ms(r.library_s),
                format!("{:.2} of slowest", r.ratio),
                if r.ratio <= 1.2 {
                    "<= 1.20: met"
                } else {
                    "<= 1.20: not met"
                },
            ),
            _ => (
                "ingest: four batchers / DocumentIngest with verdicts (docs/s)".to_owned(),
                format!("{:.0}/s", r.items as f64 / r.reference_s),
                format!("{:.0}/s", r.items as f64 / r.library_s),
                format!("{:.0}%", r.ratio * 100.0),
                if r.ratio >= 0.95 {
                    ">= 95%: met"
                } else {
                    ">= 95%: not met"
                },
            ),
        };
        s.push_str(&format!(
            "| {name} | {} | {} | {without} | {with} | {ratio} | {goal} |\n",
            r.rtt_ms, r.items
        ));
    }
    s
}

/// Writes `reads.json` and `reads.md` beside the other results.
pub fn write(dir: &std::path::Path, records: &[ReadRecord]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(records).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("reads.json"), json)?;
    std::fs::write(dir.join("reads.md"), table(records))
}

//! The UDS3 ingestion pipeline end to end, on a generated corpus of
//! legal-style documents cut into chunks with deterministic 384-dimension
//! pseudo embeddings:
//! - one row per document in PostgreSQL (`uds3_ingest_documents`),
//! - one document per document in CouchDB (`uds3_ingest`),
//! - one vector per chunk in Chroma (`uds3-ingest`),
//! - `Document` and `Chunk` nodes with `HAS_CHUNK` and `NEXT_CHUNK`
//!   relationships in the graph,
//!
//! fed as whole documents to one `DocumentIngest` shared by worker
//! threads, with a progress bar; then the verdicts (how many documents
//! reached all four stores), a verification of every document with the
//! batch readers and a repair pass of whatever is missing, and a per-store
//! summary. Run it again: everything is already there, so the second run
//! counts conflicts and writes nothing new.
//!
//! ```sh
//! cargo xtask services up
//! cargo run --release -p uds3-batch --features full --example ingest -- --docs 500 --threads 4
//! ```

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use uds3_batch::chroma::{ChromaClient, ChromaRecord, MetadataValue, metadata};
use uds3_batch::couch::CouchDatabase;
use uds3_batch::couch::serde_json::json;
use uds3_batch::neo4j::{Neo4jConfig, Properties, PropertyValue};
use uds3_batch::postgres::{Connector, DocumentRow, TableName};
use uds3_batch::{BatcherSettings, DocumentIngest, Stats, Uds3Document, Uds3Stores};

const DIM: usize = 384;

const USAGE: &str = "\
usage: ingest [--docs N] [--chunks N] [--threads N]

Writes a generated corpus to all four stores and prints what each one took.
  --docs N      documents to write (default 200)
  --chunks N    chunks per document (default 8)
  --threads N   worker threads sharing the four batchers (default 4)
  -h, --help    print this help and exit

Servers (unset or empty means the default):
  UDS3_POSTGRES_URL     postgres://postgres@127.0.0.1:25432/postgres
  UDS3_CHROMA_URL       http://127.0.0.1:28000
  UDS3_NEO4J_URI        bolt://127.0.0.1:27687
  UDS3_NEO4J_USER       root
  UDS3_NEO4J_PASSWORD   uds3-batch-dev
  UDS3_COUCHDB_URL      http://127.0.0.1:25984
`cargo xtask services up` starts local servers at these defaults.";

/// The value of `name`, or `default` if it is unset or empty.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// What the command line asks for.
struct Options {
    docs: u64,
    chunks: u64,
    threads: u64,
}

/// Parses the command line: `Ok(None)` for `--help`, `Err` for anything
/// it does not know.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        docs: 200,
        chunks: 8,
        threads: 4,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--docs" => &mut options.docs,
            "--chunks" => &mut options.chunks,
            "--threads" => &mut options.threads,
            other => return Err(format!("unknown argument {other:?}")),
        };
        *value = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{arg} needs a whole number"))?;
    }
    options.threads = options.threads.max(1);
    Ok(Some(options))
}

/// A deterministic 64-bit mix (splitmix64's finaliser): the corpus's only
/// source of variety, so every run writes the same data.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const WORDS: [&str; 12] = [
    "Urteil",
    "Vertrag",
    "Haftung",
    "Frist",
    "Anspruch",
    "Gericht",
    "Klausel",
    "Bescheid",
    "Revision",
    "Norm",
    "Absatz",
    "Beschluss",
];

/// 40 words of legal-sounding text.
fn chunk_text(doc: u64, chunk: u64) -> String {
    let seed = (doc * 1000 + chunk) << 8;
    (0..40)
        .map(|w| WORDS[(mix(seed | w) % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A pseudo embedding: `DIM` values in [-1, 1).
fn embedding(seed: u64) -> Vec<f32> {
    (0..DIM as u64)
        .map(|j| (mix(seed * DIM as u64 + j) >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect()
}

/// Everything one document brings to the four stores.
fn document(doc: u64, chunks: u64) -> Uds3Document {
    let doc_id = format!("doc-{doc:06}");
    let texts: Vec<String> = (0..chunks).map(|c| chunk_text(doc, c)).collect();
    let length: usize = texts.iter().map(String::len).sum();
    let terms = texts
        .iter()
        .map(|t| t.matches("Urteil").count())
        .sum::<usize>();
    let court = ["BGH", "BVerwG", "BAG", "BFH"][(doc % 4) as usize];
    let row = DocumentRow::new(
        doc_id.clone(),
        format!("/corpus/{court}/{doc_id}.txt"),
        "judgment",
        length as i64,
        terms as i64,
    )
    .quality_score((mix(doc) % 100) as f64 / 100.0);
    let mut document = Uds3Document::new(&doc_id)
        .row(row)
        .body(json!({"court": court, "chunks": chunks, "text": texts.join("\n")}))
        .node("Document", &doc_id, props([("court", court.into())]));
    for (c, text) in texts.iter().enumerate() {
        let chunk_id = format!("{doc_id}-chunk-{c:03}");
        document = document
            .chunk(
                ChromaRecord::new(
                    chunk_id.clone(),
                    embedding(doc * 1000 + c as u64),
                    metadata([
                        ("doc_id", MetadataValue::from(doc_id.as_str())),
                        ("chunk_index", MetadataValue::from(c as i64)),
                        ("court", MetadataValue::from(court)),
                    ]),
                )
                .with_document(text.clone()),
            )
            .node("Chunk", &chunk_id, props([("index", (c as i64).into())]))
            .relationship(("Document", &doc_id), "HAS_CHUNK", ("Chunk", &chunk_id));
        if c > 0 {
            let previous = format!("{doc_id}-chunk-{:03}", c - 1);
            document =
                document.relationship(("Chunk", &previous), "NEXT_CHUNK", ("Chunk", &chunk_id));
        }
    }
    document
}

fn props<const N: usize>(pairs: [(&str, PropertyValue); N]) -> Properties {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn summary(store: &str, stats: Stats) {
    println!(
        "{store:<10} written {:>6}  conflicts {:>6}  failed {:>3}  batches {:>4}  requests {:>4}  retries {:>3}",
        stats.total_added,
        stats.total_conflicts,
        stats.total_failed,
        stats.total_batches,
        stats.total_requests,
        stats.total_retries
    );
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            // Not println!: a closed pipe (`--help | head`) is no panic.
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("ingest: {e} (see --help)");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let Options {
        docs,
        chunks,
        threads,
    } = options;
    let postgres_url = env_or(
        "UDS3_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:25432/postgres",
    );
    let chroma_url = env_or("UDS3_CHROMA_URL", "http://127.0.0.1:28000");
    let neo4j_uri = env_or("UDS3_NEO4J_URI", "bolt://127.0.0.1:27687");
    let neo4j_user = env_or("UDS3_NEO4J_USER", "neo4j");
    let neo4j_password = env_or("UDS3_NEO4J_PASSWORD", "uds3-batch-dev");
    let couchdb_url = env_or("UDS3_COUCHDB_URL", "http://127.0.0.1:25984");

    // The `from_env` constructors also read the backends' own variables
    // (CA files, UDS3_CHROMA_TOKEN); the plain ones read none.
    let stores = Uds3Stores::new(
        Connector::from_env(&postgres_url)?,
        TableName::new("uds3_ingest_documents")?,
        CouchDatabase::from_env(&couchdb_url, "uds3_ingest")?,
        ChromaClient::from_env(&chroma_url)?.get_or_create_collection(
            "uds3-ingest",
            &metadata([("hnsw:space", MetadataValue::from("l2"))]),
        )?,
        Neo4jConfig::from_env(&neo4j_uri, neo4j_user.as_str(), neo4j_password.as_str())?,
    );
    let settings = BatcherSettings::builder()
        .name("ingest")
        .batch_size(250)
        .build()?;
    let ingest = DocumentIngest::new(stores, settings)?;
    ingest.graph().ensure_indexes_for(&["Document", "Chunk"])?;

    let bar = indicatif::ProgressBar::new(docs);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} documents ({per_sec})",
        )?
        .progress_chars("=> "),
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (ingest, bar) = (&ingest, bar.clone());
            scope.spawn(move || {
                for doc in (t..docs).step_by(threads as usize) {
                    ingest.add(document(doc, chunks));
                    bar.inc(1);
                }
            });
        }
    });
    let verdicts = ingest.flush();
    bar.finish();
    println!(
        "{docs} documents, {} chunks, {threads} threads, {:.1} s: {} complete, {} incomplete",
        docs * chunks,
        started.elapsed().as_secs_f64(),
        verdicts.complete(),
        verdicts.documents.len() - verdicts.complete(),
    );
    for judged in verdicts.incomplete().take(5) {
        for failure in judged.failures() {
            println!(
                "  {}: {} ({}): {}",
                judged.document_id,
                failure.part,
                failure.store(),
                failure.error
            );
        }
    }

    // Verify every document with the batch readers, and send again what a
    // store lacks.
    let ids: Vec<String> = (0..docs).map(|d| format!("doc-{d:06}")).collect();
    let source = |id: &str| {
        let doc = id.strip_prefix("doc-")?.parse().ok()?;
        Some(document(doc, chunks))
    };
    let checked = Instant::now();
    let report = ingest.verify(&ids, source)?;
    let missing: usize = report.missing.iter().map(|m| m.parts.len()).sum();
    println!(
        "verify: {} documents checked in {:.1} s, {} with missing parts ({missing} parts)",
        report.checked,
        checked.elapsed().as_secs_f64(),
        report.missing.len(),
    );
    let repair = ingest.repair(&report, source);
    println!(
        "repair: {} documents fixed, {} still incomplete",
        repair.fixed.len(),
        repair.still_incomplete.len()
    );
    let left = ingest.close(Duration::from_secs(120));
    summary("postgres", ingest.rows().stats());
    summary("couch", ingest.docs().stats());
    summary("chroma", ingest.vectors().stats());
    summary("graph", ingest.graph().stats());
    if !repair.still_incomplete.is_empty() || !left.all_complete() {
        return Err("some documents did not reach every store (see above)".into());
    }
    Ok(())
}

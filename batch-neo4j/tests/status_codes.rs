//! Neo4j's status codes from the real server (issue 31, item 4), each
//! checked by what the batcher does with it: a uniqueness violation fails
//! its item only, a transaction over the server's memory limit is split,
//! a syntax error is one request and no bisection, a property key Neo4j
//! refuses never reaches it.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use std::time::Duration;

use batch_core::{
    Batcher, BatcherSettings, ErrorClass, FailedItem, Fallback, FlushReport, ItemOutcome,
    RetryPolicy, Sink, SinkError, Stats,
};
use batch_neo4j::{GraphItem, Neo4jBatchCreator, Neo4jError, Neo4jSink, Properties};
use common::{admin, config, count, unique};

/// Limits one transaction to `mib` MiB (`db.memory.transaction.max`)
/// until dropped, then lifts the limit again (0, the default: none).
/// Through the test server's own procedure (xtask/assets/neo4j):
/// Community has no `dbms.setConfigValue`. Held by one test at a time;
/// other tests of this file send batches far below the limit.
struct MemoryLimit(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

static MEMORY_LIMIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl MemoryLimit {
    fn set(mib: i64) -> Self {
        let held = MEMORY_LIMIT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        set_transaction_memory_max(mib * 1024 * 1024);
        Self(held)
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        set_transaction_memory_max(0);
    }
}

fn set_transaction_memory_max(bytes: i64) {
    let params = Properties::from_iter([("bytes".to_owned(), bytes.into())]);
    admin()
        .run_cypher("CALL uds3.setTransactionMemoryMax($bytes)", &params)
        .expect("the test server's uds3.setTransactionMemoryMax (restart it: `cargo xtask services up neo4j`)");
}

fn settings(batch_size: usize) -> BatcherSettings {
    // Few and quick: a misclassified error ends the test in seconds.
    let (first, most) = (Duration::from_millis(10), Duration::from_millis(50));
    let retry = RetryPolicy::new(3, first, most, Duration::from_secs(10)).unwrap();
    let settings = BatcherSettings::builder().batch_size(batch_size);
    settings
        .fallback(Fallback::Bisect)
        .retry(retry)
        .build()
        .unwrap()
}

/// The Neo4j status code of a failed item's server error.
fn code<T>(failed: &FailedItem<T, Neo4jError>) -> Option<&str> {
    failed.error.sink_error().expect("a server error").code()
}

/// Runs `cypher` as the admin user.
fn run(admin: &mut Neo4jSink, cypher: &str) {
    admin.run_cypher(cypher, &Properties::new()).expect(cypher);
}

#[test]
fn a_duplicate_relationship_id_under_a_uniqueness_constraint_fails_that_item_only() {
    // Relationship ids unique by constraint (Neo4j 5.7+, Community too);
    // one relationship of the batch takes the id of one already stored.
    let (doc, chunk, cites) = (unique("Doc"), unique("Chunk"), unique("CITES"));
    let mut admin = admin();
    common::seed_doc_and_chunks(&mut admin, &doc, &chunk, 8);
    run(
        &mut admin,
        &format!("CREATE CONSTRAINT FOR ()-[r:{cites}]-() REQUIRE r.id IS UNIQUE"),
    );
    run(
        &mut admin,
        &format!(
            "MATCH (d:{doc} {{id: 'doc_0'}}), (c:{chunk} {{id: 'chunk_7'}}) \
             CREATE (d)-[:{cites} {{id: 'r-taken'}}]->(c)"
        ),
    );
    let graph = config().labels(&doc, &chunk).unwrap();
    let creator = Neo4jBatchCreator::with_settings(graph, settings(6)).unwrap();
    for c in 0..6 {
        let id = if c == 4 {
            "r-taken".into()
        } else {
            format!("r{c}")
        };
        creator
            .add_relationship("doc_0", format!("chunk_{c}"), &cites, [("id", id.into())])
            .unwrap();
    }
    let report = creator.flush();
    let stats = creator.stats();
    eprintln!("{stats:?}");
    assert_eq!(report.written, 5, "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let failed = &report.failed[0];
    assert!(
        matches!(&failed.item, GraphItem::Relationship(r) if r.to_id == "chunk_4"),
        "{:?}",
        failed.item
    );
    let constraint = "Neo.ClientError.Schema.ConstraintValidationFailed";
    assert_eq!(code(failed), Some(constraint), "{}", failed.error);
    let counted = (stats.total_fallbacks, stats.total_retries);
    assert_eq!(counted, (1, 0), "fallbacks, retries: {stats:?}");
    let rels = format!("MATCH (:{doc})-[r:{cites}]->(:{chunk}) RETURN count(r)");
    let n = count(&mut admin, &rels);
    assert_eq!(n, 6, "the five new ones and the one holding the id");
}

/// Upserts `nodes` (id, text) of a fresh `prefix` label in batches of
/// `batch_size` and flushes them while one transaction may use 16 MiB
/// (`db.memory.transaction.max`); the report, the stats and the label.
fn flush_under_16_mib(
    prefix: &str,
    batch_size: usize,
    nodes: impl IntoIterator<Item = (String, String)>,
) -> (FlushReport<GraphItem, Neo4jError>, Stats, String) {
    let limit = MemoryLimit::set(16);
    let label = unique(prefix);
    let creator = Neo4jBatchCreator::with_settings(config(), settings(batch_size)).unwrap();
    for (id, text) in nodes {
        creator
            .upsert_node(&label, id, [("text", text.into())])
            .unwrap();
    }
    let report = creator.flush_timeout(Duration::from_secs(120));
    drop(limit);
    let stats = creator.stats();
    eprintln!("{stats:?}");
    (report, stats, label)
}

#[test]
fn a_transaction_over_the_servers_memory_limit_is_split_until_it_fits() {
    // 400 nodes of 50 kB each go over 16 MiB, Neo4j 5.26 answers
    // `Neo.TransientError.General.MemoryPoolOutOfMemoryError`
    // "... db.memory.transaction.max threshold reached", and a retry of
    // the same batch would fail the same way. Small enough pieces fit.
    let text = "x".repeat(50_000);
    let nodes = (0..400).map(|i| (format!("n{i}"), text.clone()));
    let (report, stats, label) = flush_under_16_mib("Big", 400, nodes);
    let first_error = report.failed.first().map(|f| &f.error);
    assert!(report.is_complete(), "{first_error:?}");
    assert_eq!(report.written, 400);
    assert_eq!(stats.total_retries, 0, "not retried as is: {stats:?}");
    assert_eq!(stats.total_fallbacks, 0, "split, not bisected as a failure");
    assert!(stats.total_requests >= 3, "split at least once: {stats:?}");
    let big = format!("MATCH (n:{label}) WHERE size(n.text) = 50000 RETURN count(n)");
    assert_eq!(count(&mut admin(), &big), 400);
}

#[test]
fn one_item_over_the_memory_limit_comes_back_with_neo4js_code_and_is_not_retried() {
    // The huge one: about 20 MiB of transaction state on its own.
    let nodes = [("small", "x".into()), ("huge", "y".repeat(10_000_000))];
    let nodes = nodes.map(|(id, text)| (id.to_owned(), text));
    let (report, stats, _) = flush_under_16_mib("Huge", 10, nodes);
    // (The report holds 10 MB of text: not printed.)
    let first_error = report.failed.first().map(|f| &f.error);
    assert_eq!(report.written, 1, "{first_error:?}");
    assert_eq!(report.failed.len(), 1);
    let failed = &report.failed[0];
    assert!(matches!(&failed.item, GraphItem::Node(n) if n.id == "huge"));
    let out_of_memory = "Neo.TransientError.General.MemoryPoolOutOfMemoryError";
    assert_eq!(code(failed), Some(out_of_memory));
    let class = failed.error.sink_error().expect("a server error").class();
    assert_eq!(class, ErrorClass::TooLarge);
    assert_eq!(stats.total_retries, 0, "{stats:?}");
    assert_eq!(stats.total_requests, 3, "the pair, then each: {stats:?}");
}

/// A sink that sends a statement with a syntax error to the real server
/// for every batch: no item is at fault, as when the library builds a
/// statement the server's Cypher does not accept.
struct BadStatement(Neo4jSink);

impl Sink for BadStatement {
    type Item = u32;
    type Error = Neo4jError;

    fn write_batch(&mut self, items: &[u32]) -> Result<Vec<ItemOutcome<Neo4jError>>, Neo4jError> {
        self.0
            .run_cypher("UNWIND $rows AS row MERGE (n", &Properties::new())?;
        Ok(items.iter().map(|_| ItemOutcome::Written).collect())
    }
}

#[test]
fn a_syntax_error_is_fatal_one_request_no_retry_no_bisection() {
    let sink = BadStatement(Neo4jSink::connect(config()).unwrap());
    let batcher = Batcher::new(sink, settings(8)).unwrap();
    for i in 0..8 {
        batcher.add(i).unwrap();
    }
    let report = batcher.flush();
    let stats = batcher.stats();
    eprintln!("{stats:?}");
    assert_eq!(report.failed.len(), 8);
    let syntax = "Neo.ClientError.Statement.SyntaxError";
    assert_eq!(code(&report.failed[0]), Some(syntax));
    let counted = (
        stats.total_requests,
        stats.total_retries,
        stats.total_fallbacks,
    );
    assert_eq!(
        counted,
        (1, 0, 0),
        "requests, retries, fallbacks: {stats:?}"
    );
}

#[test]
fn a_property_key_neo4j_refuses_is_refused_at_add_naming_it() {
    // Sent, Neo4j 5.26 fails the batch with
    // `Neo.ClientError.Schema.TokenNameError: '' is not a valid token name`.
    let label = unique("Keys");
    let creator = Neo4jBatchCreator::with_settings(config(), settings(4)).unwrap();
    for key in ["", "a\0b"] {
        let refused = creator
            .upsert_node(&label, "n0", [(key, 1.into())])
            .unwrap_err();
        let text = refused.error.to_string();
        assert!(text.contains(&format!("{key:?}")), "{text}");
        assert!(text.contains("property key"), "{text}");
    }
    creator
        .upsert_node(&label, "n0", [("ok", 1.into())])
        .unwrap();
    let report = creator.flush();
    assert!(report.is_complete(), "{:?}", report.failed);
    assert_eq!(report.written, 1);
    assert_eq!(creator.stats().total_refused, 2);
}

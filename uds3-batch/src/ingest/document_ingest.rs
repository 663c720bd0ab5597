//! `DocumentIngest`: whole documents into the four batchers, and a verdict
//! per document.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use batch_chroma::ChromaBatchInserter;
use batch_core::{BatchError, BatcherSettings, FailedItem, FlushReport, SinkError};
use batch_couch::CouchDBBatchInserter;
use batch_neo4j::{GraphItem, Neo4jBatchCreator};
use batch_postgres::PostgreSQLBatchInserter;

use crate::concurrently::join4;
use crate::ingest::book::Book;
use crate::ingest::{Part, PartFailure, Store, Uds3Document, Uds3Error, Uds3Stores, Verdicts};

/// Feeds whole documents to four batchers (PostgreSQL rows, CouchDB
/// bodies, Chroma vectors, Neo4j nodes and relationships) and tells, per
/// document, whether every part arrived. The verdicts are built from what
/// the batchers hand back: a part counts as arrived when its store wrote
/// it or already held it, as failed when its batcher handed it back; a
/// part shared by two documents (a node both link to) counts for both,
/// and no failure is counted twice.
///
/// Shared by reference between threads like the batchers themselves.
/// Its calls block (from async code, call them in `spawn_blocking`).
///
/// ```no_run
/// # use uds3_batch::{BatcherSettings, DocumentIngest, Uds3Document, Uds3Stores};
/// # fn stores() -> Uds3Stores { unimplemented!() }
/// # fn documents() -> Vec<Uds3Document> { Vec::new() }
/// let settings = BatcherSettings::builder().batch_size(500).build()?;
/// let ingest = DocumentIngest::new(stores(), settings)?;
/// for document in documents() {
///     ingest.add(document);
/// }
/// let verdicts = ingest.close(std::time::Duration::from_secs(120));
/// for judged in verdicts.incomplete() {
///     for failure in judged.failures() {
///         eprintln!("{}: {} in {}: {}", judged.document_id, failure.part, failure.store(), failure.error);
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "an ingest writes nothing until documents are added, and judges nothing until flush() or close()"]
pub struct DocumentIngest {
    stores: Uds3Stores,
    rows: PostgreSQLBatchInserter,
    docs: CouchDBBatchInserter,
    vectors: ChromaBatchInserter,
    graph: Neo4jBatchCreator,
    book: Mutex<Book>,
}

impl DocumentIngest {
    /// Starts the four batchers with `settings` (each its own copy), after
    /// creating the documents table and the CouchDB database if they are
    /// missing. Blocking.
    pub fn new(stores: Uds3Stores, settings: BatcherSettings) -> Result<Self, Uds3Error> {
        let rows = PostgreSQLBatchInserter::with_table(
            stores.postgres.clone(),
            stores.table.clone(),
            settings.clone(),
        )?;
        rows.ensure_schema()?;
        stores.couch.create_if_missing()?;
        let docs = CouchDBBatchInserter::with_settings(stores.couch.clone(), settings.clone())?;
        let vectors = ChromaBatchInserter::with_settings(stores.chroma.clone(), settings.clone())?;
        let graph = Neo4jBatchCreator::with_settings(stores.neo4j.clone(), settings)?;
        Ok(Self {
            stores,
            rows,
            docs,
            vectors,
            graph,
            book: Mutex::new(Book::default()),
        })
    }

    /// The stores written to.
    pub fn stores(&self) -> &Uds3Stores {
        &self.stores
    }

    /// The PostgreSQL batcher (its stats, its table).
    pub fn rows(&self) -> &PostgreSQLBatchInserter {
        &self.rows
    }

    /// The CouchDB batcher.
    pub fn docs(&self) -> &CouchDBBatchInserter {
        &self.docs
    }

    /// The Chroma batcher.
    pub fn vectors(&self) -> &ChromaBatchInserter {
        &self.vectors
    }

    /// The Neo4j batcher.
    pub fn graph(&self) -> &Neo4jBatchCreator {
        &self.graph
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands every part of `document` to its batcher (nodes before
    /// relationships). A part refused at once (an invalid value, a full
    /// batcher under `WhenFull::Reject`) is not an error here: it is a
    /// failure in the document's verdict, like a part the server refused.
    /// Blocks only as the batchers' `add` does (`WhenFull::Block`).
    pub fn add(&self, document: Uds3Document) {
        let parts = document.parts();
        let Uds3Document {
            id,
            row,
            body,
            chunks,
            nodes,
            relationships,
        } = document;
        self.book().register(&id, &parts);
        let mut refused = Vec::new();
        // A part refused comes back with its item: named from that, so
        // that nothing is built twice on the way in.
        if let Some(row) = row
            && let Err(failed) = self.rows.add(row)
        {
            refused.push(failure(Part::of_row(&failed.item), &failed));
        }
        if let Some(body) = body
            && let Err(failed) = self.docs.add(body, Some(&id))
        {
            refused.push(failure(Part::Body { id: id.clone() }, &failed));
        }
        // A document's chunks, and its nodes and relationships, each in one
        // call: one lock of the batcher (and one fsync under a durable
        // buffer) for all of them.
        if let Err(back) = self.vectors.add_many(chunks) {
            for (_, failed) in &back.failed {
                refused.push(failure(Part::of_chunk(&failed.item), failed));
            }
        }
        let graph = nodes
            .into_iter()
            .map(|node| GraphItem::Node(Box::new(node)))
            .chain(
                relationships
                    .into_iter()
                    .map(|r| GraphItem::Relationship(Box::new(r))),
            );
        if let Err(back) = self.graph.add_many(graph) {
            for (_, failed) in &back.failed {
                if let Some(part) = Part::of_graph(&failed.item) {
                    refused.push(failure(part, failed));
                }
            }
        }
        let mut book = self.book();
        for failure in refused {
            book.failed(failure);
        }
        book.ready(&id);
    }

    /// Waits until every part added so far is resolved, and judges the
    /// documents that were wholly added when the call began (a document
    /// still being added by another thread is judged by a later flush).
    pub fn flush(&self) -> Verdicts {
        self.flush_judging(None)
    }

    /// Flushes, stops the four batchers (each waits at most `timeout`),
    /// and judges every document added. When a batcher gives up with
    /// parts unresolved, every part of the judged documents in that store
    /// that did not fail otherwise fails with
    /// [`ErrorClass::OutcomeUnknown`](batch_core::ErrorClass::OutcomeUnknown): the batcher does not say which parts
    /// it still holds, so none of them is called arrived; `verify` tells.
    pub fn close(&self, timeout: Duration) -> Verdicts {
        let ready = self.book().ready_now(None);
        let (rows, docs, vectors, graph) = join4(
            || self.rows.close(timeout),
            || self.docs.close(timeout),
            || self.vectors.close(timeout),
            || self.graph.close(timeout),
        );
        // A batcher that gave up still holds parts, without saying which:
        // none of that store's parts can be called arrived. Recorded after
        // the parts handed back, which keep their own errors.
        let gave_up = [
            (Store::Postgres, rows.pending),
            (Store::Couch, docs.pending),
            (Store::Chroma, vectors.pending),
            (Store::Neo4j, graph.pending),
        ];
        let mut book = self.book();
        record(&mut book, rows, docs, vectors, graph);
        for (store, pending) in gave_up.into_iter().filter(|(_, n)| *n > 0) {
            let error = format!(
                "{store} held {pending} parts unresolved when close gave up after {timeout:?}: stored or not, unknown"
            );
            book.unresolved(&ready, store, &error);
        }
        book.judge(&ready)
    }

    /// [`flush`](Self::flush), judging only the documents in `only`.
    pub(crate) fn flush_judging(&self, only: Option<&HashSet<String>>) -> Verdicts {
        let ready = self.book().ready_now(only);
        let (rows, docs, vectors, graph) = join4(
            || self.rows.flush(),
            || self.docs.flush(),
            || self.vectors.flush(),
            || self.graph.flush(),
        );
        let mut book = self.book();
        record(&mut book, rows, docs, vectors, graph);
        book.judge(&ready)
    }
}

/// Records in `book` every part the four reports hand back.
fn record(
    book: &mut Book,
    rows: FlushReport<batch_postgres::DocumentRow, batch_postgres::PostgresError>,
    docs: FlushReport<batch_couch::CouchDoc, batch_couch::CouchError>,
    vectors: FlushReport<batch_chroma::ChromaRecord, batch_chroma::ChromaError>,
    graph: FlushReport<GraphItem, batch_neo4j::Neo4jError>,
) {
    for failed in rows.failed {
        book.failed(failure(Part::of_row(&failed.item), &failed));
    }
    for failed in docs.failed {
        book.failed(failure(Part::of_body(&failed.item), &failed));
    }
    for failed in vectors.failed {
        book.failed(failure(Part::of_chunk(&failed.item), &failed));
    }
    for failed in graph.failed {
        if let Some(part) = Part::of_graph(&failed.item) {
            book.failed(failure(part, &failed));
        }
    }
}

/// The verdict's record of a part handed back.
fn failure<T, E: SinkError>(part: Part, failed: &FailedItem<T, E>) -> PartFailure {
    PartFailure {
        part,
        error: failed.error.to_string(),
        class: match &failed.error {
            BatchError::Sink(e) => Some(e.class()),
            _ => None,
        },
    }
}

//! `ReadSource`: what a backend provides for batch reads.

use crate::error::SinkError;

/// One store's batch read: a request for a chunk of ids. The
/// [`BatchReader`](crate::read::BatchReader) around it chunks, retries and
/// sorts found from missing.
pub trait ReadSource: Send {
    /// What one id reads as (a row, a document, a record, a node's
    /// properties).
    type Value: Send;
    /// The store's error type, classified for retry like a sink's.
    type Error: SinkError;

    /// The backend's name for messages, e.g. `"postgres"`.
    const BACKEND: &'static str;

    /// Most ids one request may carry: the server's limit, or what keeps a
    /// request and its answer a sensible size.
    const MAX_IDS_PER_REQUEST: usize;

    /// The limit for this source: [`MAX_IDS_PER_REQUEST`](Self::MAX_IDS_PER_REQUEST)
    /// unless the source learns a lower one from its server.
    fn max_ids_per_request(&self) -> usize {
        Self::MAX_IDS_PER_REQUEST
    }

    /// Why `id` cannot be asked for (before any round trip), if it cannot.
    /// Empty ids are refused by the reader already. The default accepts
    /// every other id.
    fn check_id(&self, _id: &str) -> Result<(), String> {
        Ok(())
    }

    /// Reads `ids` (distinct, checked, at most
    /// [`max_ids_per_request`](Self::max_ids_per_request)) in one request:
    /// the ids found, each with its value. An id not in the answer is
    /// missing; ids the request did not ask for are ignored.
    fn read(&mut self, ids: &[String]) -> Result<Vec<(String, Self::Value)>, Self::Error>;

    /// Which of `ids` exist, in one request. The default reads them; a
    /// store that can answer without the payload should.
    fn exists(&mut self, ids: &[String]) -> Result<Vec<String>, Self::Error> {
        Ok(self.read(ids)?.into_iter().map(|(id, _)| id).collect())
    }
}

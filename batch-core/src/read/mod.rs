//! Batch reads (UDS3 v2.3's batch readers): many ids, one request per
//! chunk of ids instead of one per id. A backend implements
//! [`ReadSource`] (one request for one chunk); [`BatchReader`] does what
//! every backend shares: refusing bad ids before any round trip, dropping
//! duplicate ids, chunking to the server's limit, retrying transient
//! errors with the writers' [`RetryPolicy`](crate::RetryPolicy), halving a
//! chunk the server found too large, and telling found ids from missing
//! ones ([`Lookup`]). An id the store does not hold is `missing`, never an
//! error; an error is never a partial answer.

mod error;
mod lookup;
mod reader;
mod source;

pub use error::ReadError;
pub use lookup::Lookup;
pub use reader::BatchReader;
pub use source::ReadSource;

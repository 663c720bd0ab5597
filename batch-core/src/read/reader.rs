//! `BatchReader`: get-many and exists-many over a [`ReadSource`].

use std::collections::HashSet;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::error::{ConfigError, ErrorClass, SinkError};
use crate::own_thread::{on_own_thread, on_own_thread_async};
use crate::read::{Lookup, ReadError, ReadSource};
use crate::retry::{Jitter, RetryPolicy};

/// The thread each request runs on.
const READ_THREAD: &str = "uds3-batch-read";

/// Reads many ids from one store, one request per chunk of ids.
///
/// Each call runs its requests on a short-lived thread of the library's,
/// so a reader can be called from a plain thread or from inside an async
/// runtime (where a driver's own runtime would otherwise panic): the sync
/// calls wait for that thread, the `*_async` ones await it without
/// blocking the executor (any executor; no runtime is required). Calls on
/// one reader, from several threads or tasks, take turns.
///
/// Duplicate ids are asked for once; ids are checked before the first
/// request; transient errors are retried under the same [`RetryPolicy`]
/// as the writers (reads are idempotent, so an answer lost in a timeout
/// is simply asked again); a chunk the server finds too large is halved.
/// Errors no retry can fix (authentication, a missing table or
/// collection) come back at once.
///
/// ```
/// use batch_core::read::{BatchReader, ReadSource};
/// use batch_core::{ErrorClass, SinkError};
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("unreachable")]
/// struct Down;
/// impl SinkError for Down {
///     fn class(&self) -> ErrorClass { ErrorClass::Transient }
/// }
///
/// /// A store that holds the even numbers.
/// struct Evens;
/// impl ReadSource for Evens {
///     type Value = u64;
///     type Error = Down;
///     const BACKEND: &'static str = "evens";
///     const MAX_IDS_PER_REQUEST: usize = 2;
///     fn read(&mut self, ids: &[String]) -> Result<Vec<(String, u64)>, Down> {
///         Ok(ids.iter().filter_map(|id| {
///             let n: u64 = id.parse().ok()?;
///             (n % 2 == 0).then(|| (id.clone(), n))
///         }).collect())
///     }
/// }
///
/// let reader = BatchReader::new(Evens);
/// let lookup = reader.get_many(&["1", "2", "3", "4", "2"])?;
/// assert_eq!(lookup.get("4"), Some(&4));
/// assert_eq!(lookup.missing, ["1", "3"]);
/// assert_eq!(lookup.requests, 2); // 4 distinct ids, 2 per request
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BatchReader<S> {
    reading: Arc<Mutex<Reading<S>>>,
}

/// A reader's state, behind its lock: the store and what a read needs.
#[derive(Debug)]
struct Reading<S> {
    source: S,
    retry: RetryPolicy,
    chunk_size: usize,
    requests: u64,
    jitter: Jitter,
}

/// The store of a [`BatchReader`], borrowed ([`BatchReader::source`]):
/// reads wait while it is held.
#[derive(Debug)]
pub struct SourceGuard<'a, S>(MutexGuard<'a, Reading<S>>);

impl<S> Deref for SourceGuard<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0.source
    }
}

impl<S> DerefMut for SourceGuard<'_, S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.0.source
    }
}

/// Clones share one state (store, connection, counters): their calls take
/// turns.
impl<S> Clone for BatchReader<S> {
    fn clone(&self) -> Self {
        Self {
            reading: Arc::clone(&self.reading),
        }
    }
}

type Answer<T, E> = Result<Lookup<T>, ReadError<E>>;

impl<S: ReadSource> BatchReader<S> {
    /// A reader with chunks of the source's largest size and the default
    /// retry policy.
    pub fn new(source: S) -> Self {
        let chunk_size = source.max_ids_per_request().max(1);
        Self {
            reading: Arc::new(Mutex::new(Reading {
                source,
                retry: RetryPolicy::default(),
                chunk_size,
                requests: 0,
                jitter: Jitter::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Reading<S>> {
        self.reading.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The same reader with another retry policy
    /// ([`RetryPolicy::none`] for none).
    #[must_use]
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        self.lock().retry = retry;
        self
    }

    /// The same reader with at most `chunk_size` ids per request; refused
    /// above what the source allows or at 0.
    pub fn with_chunk_size(self, chunk_size: usize) -> Result<Self, ConfigError> {
        {
            let mut reading = self.lock();
            let max = reading.source.max_ids_per_request().max(1);
            if !(1..=max).contains(&chunk_size) {
                return Err(ConfigError::OutOfRange {
                    var: "chunk_size",
                    value: chunk_size.to_string(),
                    min: 1,
                    max,
                });
            }
            reading.chunk_size = chunk_size;
        }
        Ok(self)
    }

    /// Ids per request.
    pub fn chunk_size(&self) -> usize {
        self.lock().chunk_size
    }

    /// Requests sent by this reader so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.lock().requests
    }

    /// The store this reader reads (e.g. to change what is read); reads
    /// wait while the guard lives.
    pub fn source(&self) -> SourceGuard<'_, S> {
        SourceGuard(self.lock())
    }

    /// Reads `ids`: every distinct id comes back found, with its value, or
    /// missing. Blocking (the requests run on a thread of the library's,
    /// which this call waits for); from async code,
    /// [`get_many_async`](Self::get_many_async).
    pub fn get_many<I: AsRef<str>>(&self, ids: &[I]) -> Answer<S::Value, S::Error> {
        self.lookup(ids, |source, chunk| source.read(chunk))
    }

    /// Which of `ids` the store holds: `found` maps each to `()`.
    /// Blocking, like [`get_many`](Self::get_many).
    pub fn exists_many<I: AsRef<str>>(&self, ids: &[I]) -> Answer<(), S::Error> {
        self.lookup(ids, exists)
    }

    /// [`get_many`](Self::get_many) for async code: the ids are checked
    /// now, the requests run on a thread of the library's, and the future
    /// waits for its answer without blocking the executor. Dropping the
    /// future abandons the answer, not the reader: the thread finishes
    /// the read and the next call proceeds.
    pub fn get_many_async<I: AsRef<str>>(
        &self,
        ids: &[I],
    ) -> impl Future<Output = Answer<S::Value, S::Error>> + Send + 'static
    where
        S: 'static,
        S::Value: 'static,
    {
        self.lookup_async(ids, |source, chunk| source.read(chunk))
    }

    /// [`exists_many`](Self::exists_many) for async code, as
    /// [`get_many_async`](Self::get_many_async).
    pub fn exists_many_async<I: AsRef<str>>(
        &self,
        ids: &[I],
    ) -> impl Future<Output = Answer<(), S::Error>> + Send + 'static
    where
        S: 'static,
    {
        self.lookup_async(ids, exists)
    }

    fn lookup<I: AsRef<str>, T: Send>(
        &self,
        ids: &[I],
        read: impl FnMut(&mut S, &[String]) -> Result<Vec<(String, T)>, S::Error> + Send,
    ) -> Answer<T, S::Error> {
        let wanted = self.lock().distinct_checked(ids)?;
        on_own_thread(READ_THREAD, || self.lock().read_all(wanted, read))
            .map_err(ReadError::Thread)?
    }

    fn lookup_async<I: AsRef<str>, T: Send + 'static>(
        &self,
        ids: &[I],
        read: impl FnMut(&mut S, &[String]) -> Result<Vec<(String, T)>, S::Error> + Send + 'static,
    ) -> impl Future<Output = Answer<T, S::Error>> + Send + 'static
    where
        S: 'static,
    {
        let checked = self.lock().distinct_checked(ids);
        let reading = Arc::clone(&self.reading);
        async move {
            let wanted = checked?;
            let read = move || {
                let mut reading = reading.lock().unwrap_or_else(PoisonError::into_inner);
                reading.read_all(wanted, read)
            };
            on_own_thread_async(READ_THREAD, read)
                .await
                .map_err(ReadError::Thread)?
        }
    }
}

/// A `ReadSource::exists` answer in a lookup's shape.
fn exists<S: ReadSource>(source: &mut S, chunk: &[String]) -> Result<Vec<(String, ())>, S::Error> {
    Ok(source
        .exists(chunk)?
        .into_iter()
        .map(|id| (id, ()))
        .collect())
}

impl<S: ReadSource> Reading<S> {
    /// Every chunk of `wanted`, on the thread of this call.
    fn read_all<T: Send>(
        &mut self,
        wanted: Vec<String>,
        mut read: impl FnMut(&mut S, &[String]) -> Result<Vec<(String, T)>, S::Error> + Send,
    ) -> Result<Lookup<T>, ReadError<S::Error>> {
        let mut lookup = Lookup::new();
        let before = self.requests;
        for chunk in wanted.chunks(self.chunk_size) {
            let asked: HashSet<&str> = chunk.iter().map(String::as_str).collect();
            for (id, value) in self.read_chunk(chunk, &mut read)? {
                if asked.contains(id.as_str()) && !lookup.found.contains_key(&id) {
                    lookup.found.insert(id, value);
                }
            }
        }
        lookup.missing = wanted
            .into_iter()
            .filter(|id| !lookup.found.contains_key(id))
            .collect();
        lookup.requests = self.requests - before;
        Ok(lookup)
    }

    /// The ids in order, each once, every one checked.
    fn distinct_checked<I: AsRef<str>>(
        &self,
        ids: &[I],
    ) -> Result<Vec<String>, ReadError<S::Error>> {
        let mut seen = HashSet::with_capacity(ids.len());
        let mut wanted = Vec::with_capacity(ids.len());
        for (index, id) in ids.iter().enumerate() {
            let id = id.as_ref();
            let refused = if id.is_empty() {
                Err("ids must not be empty".to_owned())
            } else {
                self.source.check_id(id)
            };
            if let Err(reason) = refused {
                return Err(ReadError::InvalidId {
                    backend: S::BACKEND,
                    index,
                    id: id.to_owned(),
                    reason,
                });
            }
            if seen.insert(id) {
                wanted.push(id.to_owned());
            }
        }
        Ok(wanted)
    }

    /// One chunk, retried while the error is transient, halved while the
    /// server finds it too large.
    fn read_chunk<T: Send>(
        &mut self,
        chunk: &[String],
        read: &mut (impl FnMut(&mut S, &[String]) -> Result<Vec<(String, T)>, S::Error> + Send),
    ) -> Result<Vec<(String, T)>, ReadError<S::Error>> {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.requests += 1;
            let error = match read(&mut self.source, chunk) {
                Ok(found) => return Ok(found),
                Err(error) => error,
            };
            match error.class() {
                ErrorClass::TooLarge if chunk.len() > 1 => {
                    let (left, right) = chunk.split_at(chunk.len() / 2);
                    let mut found = self.read_chunk(left, read)?;
                    found.extend(self.read_chunk(right, read)?);
                    return Ok(found);
                }
                ErrorClass::Transient | ErrorClass::OutcomeUnknown => {
                    if let Some(sleep) = self.retry.backoff(attempts, started, &mut self.jitter) {
                        tracing::warn!(backend = S::BACKEND, attempts, ?sleep, %error, "batch read failed, retrying");
                        std::thread::sleep(sleep);
                        continue;
                    }
                }
                _ => {}
            }
            return Err(ReadError::Store {
                backend: S::BACKEND,
                first: chunk.first().cloned().unwrap_or_default(),
                ids: chunk.len(),
                attempts,
                error: Box::new(error),
            });
        }
    }
}

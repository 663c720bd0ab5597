//! `BatchReader` over a scripted source: what batch-core does for every
//! backend's reads (chunks, retries, halving, refusals, panics).

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use batch_core::read::{BatchReader, ReadError, ReadSource};
use batch_core::testing::block_on::{block_on, waker};
use batch_core::{ErrorClass, RetryPolicy, SinkError};

#[derive(Debug, thiserror::Error)]
#[error("scripted {0:?}")]
struct Scripted(ErrorClass);

impl SinkError for Scripted {
    fn class(&self) -> ErrorClass {
        self.0
    }
}

/// Holds the ids that parse to a multiple of 3; answers the scripted
/// errors first, one per request; remembers each request's ids.
#[derive(Debug, Default)]
struct Store {
    errors: VecDeque<ErrorClass>,
    /// Requests with more ids than this are `TooLarge`.
    too_large_above: Option<usize>,
    requests: Vec<Vec<String>>,
    panic: bool,
    /// Requests from this one on (0-based) fail permanently.
    fail_from_request: Option<usize>,
}

impl ReadSource for Store {
    type Value = u64;
    type Error = Scripted;
    const BACKEND: &'static str = "store";
    const MAX_IDS_PER_REQUEST: usize = 10;

    fn check_id(&self, id: &str) -> Result<(), String> {
        if id.starts_with('!') {
            return Err("ids must not start with !".to_owned());
        }
        Ok(())
    }

    fn read(&mut self, ids: &[String]) -> Result<Vec<(String, u64)>, Scripted> {
        assert!(!self.panic, "the store's own bug");
        self.requests.push(ids.to_vec());
        if self
            .fail_from_request
            .is_some_and(|n| self.requests.len() > n)
        {
            return Err(Scripted(ErrorClass::Permanent));
        }
        if let Some(class) = self.errors.pop_front() {
            return Err(Scripted(class));
        }
        if self.too_large_above.is_some_and(|max| ids.len() > max) {
            return Err(Scripted(ErrorClass::TooLarge));
        }
        let mut found: Vec<(String, u64)> = ids
            .iter()
            .filter_map(|id| {
                id.parse::<u64>()
                    .ok()
                    .filter(|n| n % 3 == 0)
                    .map(|n| (id.clone(), n))
            })
            .collect();
        // An answer for an id nobody asked for is ignored.
        found.push(("999999".to_owned(), 999_999));
        Ok(found)
    }
}

fn ids(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

fn quick_retries(attempts: u32) -> RetryPolicy {
    RetryPolicy::new(
        attempts,
        Duration::from_millis(1),
        Duration::from_millis(2),
        Duration::from_secs(5),
    )
    .expect("policy")
}

#[test]
fn every_distinct_id_is_found_or_missing_once() {
    let reader = BatchReader::new(Store::default());
    let mut asked = ids(0..25);
    asked.extend(ids(0..5));
    let lookup = reader.get_many(&asked).expect("read");
    assert_eq!(lookup.found.len(), 9, "0, 3, ..., 24");
    assert_eq!(lookup.get("24"), Some(&24));
    assert!(!lookup.contains("999999"), "not asked for");
    assert_eq!(lookup.missing.len(), 16);
    assert_eq!(lookup.missing[..3], ["1", "2", "4"]);
    assert_eq!(lookup.requests, 3, "25 distinct ids, 10 per request");
    let sizes: Vec<usize> = reader.source().requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5], "duplicates asked once");
}

#[test]
fn transient_errors_are_retried_and_counted() {
    let store = Store {
        errors: [ErrorClass::Transient, ErrorClass::OutcomeUnknown].into(),
        ..Store::default()
    };
    let reader = BatchReader::new(store).with_retry(quick_retries(3));
    let lookup = reader.get_many(&ids(0..4)).expect("third try answers");
    assert_eq!(lookup.found.len(), 2);
    assert_eq!(lookup.requests, 3);
}

#[test]
fn a_fatal_error_is_not_retried() {
    let store = Store {
        errors: [ErrorClass::Fatal].into(),
        ..Store::default()
    };
    let reader = BatchReader::new(store).with_retry(quick_retries(5));
    let err = reader.get_many(&ids(0..4)).unwrap_err();
    match &err {
        ReadError::Store {
            attempts,
            ids,
            first,
            backend,
            ..
        } => assert_eq!(
            (*attempts, *ids, first.as_str(), *backend),
            (1, 4, "0", "store")
        ),
        other => panic!("{other}"),
    }
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert_eq!(reader.requests_sent(), 1);
}

#[test]
fn a_failure_after_a_good_chunk_returns_no_partial_answer() {
    let store = Store {
        fail_from_request: Some(1),
        ..Store::default()
    };
    let reader = BatchReader::new(store).with_retry(quick_retries(2));
    let err = reader.get_many(&ids(0..15)).unwrap_err();
    assert!(
        matches!(&err, ReadError::Store { first, attempts: 1, ids: 5, .. } if first == "10"),
        "the second chunk failed, permanently: {err}"
    );
    assert_eq!(
        reader.source().requests.len(),
        2,
        "the first chunk was read"
    );
}

#[test]
fn a_chunk_too_large_is_halved_until_it_fits() {
    let store = Store {
        too_large_above: Some(3),
        ..Store::default()
    };
    let reader = BatchReader::new(store);
    let lookup = reader.get_many(&ids(0..10)).expect("read in halves");
    assert_eq!(lookup.found.len(), 4, "0, 3, 6, 9");
    assert_eq!(lookup.missing.len(), 6);
    let sizes: Vec<usize> = reader.source().requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 5, 2, 3, 5, 2, 3], "halved depth first");
}

#[test]
fn bad_ids_are_refused_before_any_request() {
    let reader = BatchReader::new(Store::default());
    let err = reader.get_many(&["1", "2", "!3"]).unwrap_err();
    assert!(
        matches!(&err, ReadError::InvalidId { index: 2, id, .. } if id == "!3"),
        "{err}"
    );
    assert!(err.to_string().contains("must not start with !"), "{err}");
    let err = reader.exists_many(&[""]).unwrap_err();
    assert!(
        matches!(err, ReadError::InvalidId { index: 0, .. }),
        "{err}"
    );
    assert!(reader.source().requests.is_empty());
    assert_eq!(reader.requests_sent(), 0);
}

#[test]
fn a_panicking_store_is_an_error_not_a_panic() {
    let reader = BatchReader::new(Store {
        panic: true,
        ..Store::default()
    });
    let err = reader.get_many(&["1"]).unwrap_err();
    assert!(matches!(err, ReadError::Thread(_)), "{err}");
    assert!(err.to_string().contains("the store's own bug"), "{err}");
}

#[test]
fn a_chunk_size_above_the_store_limit_is_refused() {
    let err = BatchReader::new(Store::default())
        .with_chunk_size(11)
        .unwrap_err();
    assert!(err.to_string().contains("chunk_size"), "{err}");
    assert!(
        BatchReader::new(Store::default())
            .with_chunk_size(0)
            .is_err()
    );
    assert_eq!(
        BatchReader::new(Store::default())
            .with_chunk_size(4)
            .expect("fits")
            .chunk_size(),
        4
    );
}

#[test]
fn each_request_runs_on_a_thread_of_the_library() {
    // The request runs on a thread of the library's: a store that builds
    // and blocks on a runtime of its own would not panic here.
    let caller = std::thread::current().id();
    struct Where(Option<std::thread::ThreadId>);
    impl ReadSource for Where {
        type Value = ();
        type Error = Scripted;
        const BACKEND: &'static str = "where";
        const MAX_IDS_PER_REQUEST: usize = 1;
        fn read(&mut self, _: &[String]) -> Result<Vec<(String, ())>, Scripted> {
            self.0 = Some(std::thread::current().id());
            Ok(Vec::new())
        }
    }
    let reader = BatchReader::new(Where(None));
    reader.get_many(&["x"]).expect("read");
    assert_ne!(reader.source().0, Some(caller));
}

#[test]
fn an_async_read_answers_as_the_sync_one_and_wakes_its_waiter() {
    let reader = BatchReader::new(Store::default());
    let ids = ids(0..25);
    // Polled by hand: pending at first, then woken by the read's thread.
    let (woken, waker) = waker();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut asked = std::pin::pin!(reader.get_many_async(&ids));
    let started = std::time::Instant::now();
    let lookup = loop {
        if let std::task::Poll::Ready(answer) = asked.as_mut().poll(&mut cx) {
            break answer.expect("read");
        }
        while woken.wakes() == 0 {
            assert!(started.elapsed() < Duration::from_secs(30), "never woken");
            std::thread::park_timeout(Duration::from_millis(10));
        }
    };
    assert_eq!(lookup, reader.get_many(&ids).expect("read"));
    assert_eq!(lookup.requests, 3);
    let exists = block_on(reader.exists_many_async(&ids)).expect("exists");
    assert_eq!(exists.found.len(), 9);
    // Bad ids are refused before any thread starts.
    let err = block_on(reader.get_many_async(&[""])).unwrap_err();
    assert!(
        matches!(err, ReadError::InvalidId { index: 0, .. }),
        "{err}"
    );
    assert_eq!(reader.requests_sent(), 9);
}

#[test]
fn an_abandoned_async_read_leaves_the_reader_usable() {
    let reader = BatchReader::new(Store::default());
    drop(reader.get_many_async(&ids(0..25)));
    // The abandoned read may still be running: this one waits its turn.
    let lookup = reader.get_many(&ids(0..5)).expect("read");
    assert_eq!(lookup.found.len(), 2);
}

#[test]
fn a_store_panicking_under_an_async_read_is_an_error() {
    let reader = BatchReader::new(Store {
        panic: true,
        ..Store::default()
    });
    let err = block_on(reader.get_many_async(&["1"])).unwrap_err();
    assert!(matches!(err, ReadError::Thread(_)), "{err}");
}

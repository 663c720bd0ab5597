//! Requests never carry more than the server's `max_batch_size`.

mod common;

use std::num::NonZeroUsize;

use batch_chroma::{ChromaBatchInserter, ChromaSink, WriteMode};
use batch_core::{BatcherSettings, Sink};
use common::{client, fresh_collection, meta};

/// An inserter of `batch_size` over `sink`, which has been handed `n`
/// records `{prefix}{i}` with a 2-dim vector holding `i`.
fn inserter_with(
    sink: ChromaSink,
    batch_size: usize,
    prefix: &str,
    n: usize,
) -> ChromaBatchInserter {
    let settings = BatcherSettings::builder().batch_size(batch_size).build();
    let inserter =
        ChromaBatchInserter::with_sink(sink, settings.expect("settings")).expect("inserter");
    for i in 0..n {
        let added = inserter.add(format!("{prefix}{i}"), vec![i as f32, 1.0], meta(i));
        added.expect("valid record");
    }
    inserter
}

#[test]
fn a_batch_size_above_max_batch_size_is_capped() {
    let collection = fresh_collection("cap");
    // Read through the collection's own client, so the sink knows it.
    let max = collection.client().pre_flight().unwrap().max_batch_size;
    let sink = ChromaSink::new(collection.clone(), WriteMode::Upsert).unwrap();
    assert_eq!(sink.limits().max_items.map(NonZeroUsize::get), Some(max));
    let n = max + 500;
    let inserter = inserter_with(sink, n, "c", n);
    assert_eq!(inserter.batch_size(), max);
    let report = inserter.flush();
    assert!(report.is_complete(), "{:?}", report.failed.first());
    let stats = inserter.stats();
    assert_eq!((stats.total_batches, stats.total_requests), (2, 2));
    assert_eq!(collection.count().unwrap(), n as u64);
}

#[test]
fn a_batch_over_max_batch_size_built_before_the_pre_flight_is_split() {
    let max = client().pre_flight().unwrap().max_batch_size;
    let collection = fresh_collection("lazycap");
    // A client of its own that has not read the pre-flight checks yet:
    // the sink cannot know the server's limit before its first write.
    let sink = ChromaSink::new(collection.clone(), WriteMode::Add).unwrap();
    assert_eq!(sink.limits().max_items, None);
    assert_eq!(sink.encoding(), None);
    let n = max + 500;
    let inserter = inserter_with(sink, n, "l", n);
    let report = inserter.flush();
    assert!(report.is_complete(), "{:?}", report.failed.first());
    assert_eq!(report.written, n as u64);
    let stats = inserter.stats();
    // One refusal before sending (split in two by batch-core), then two
    // requests under the limit.
    assert_eq!((stats.total_batches, stats.total_requests), (1, 3));
    assert_eq!(stats.total_fallbacks, 0);
    assert_eq!(collection.count().unwrap(), n as u64);
}

#[test]
fn a_smaller_request_cap_splits_batches() {
    let collection = fresh_collection("smallcap");
    let sink = ChromaSink::new(collection.clone(), WriteMode::Add).unwrap();
    let sink = sink.with_max_batch_size(NonZeroUsize::new(10).unwrap());
    let inserter = inserter_with(sink, 100, "s", 25);
    let report = inserter.flush();
    assert_eq!(report.written, 25);
    assert_eq!(inserter.stats().total_batches, 3);
    assert_eq!(collection.count().unwrap(), 25);
}

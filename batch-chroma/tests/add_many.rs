//! `ChromaBatchInserter::add_many` and `add_many_async` against the real
//! server: the invalid records come back by their index, every other one
//! lands in the collection, in as many requests as `add` would send.

mod common;

use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaRecord};
use batch_core::testing::add_many::{assert_refused_as_add, assert_written_as_add};
use batch_core::{BatcherSettings, Stats};
use common::{fresh_collection, meta, vector};

/// Record `i`; the records at `bad` are invalid (NaN in the vector, or an
/// empty id), as `add` would refuse them.
fn record(i: usize, bad: &[usize]) -> ChromaRecord {
    let mut vector = vector(i, 16);
    let mut id = format!("chunk-{i}");
    match bad.iter().position(|b| *b == i) {
        Some(0) => vector[3] = f32::NAN,
        Some(_) => id.clear(),
        None => {}
    }
    ChromaRecord::new(id, vector, meta(i)).with_document(format!("text {i}"))
}

#[test]
fn add_many_hands_back_the_invalid_records_by_index_and_writes_the_rest() {
    let collection = fresh_collection("addmany");
    let settings = BatcherSettings::builder()
        .batch_size(100)
        .build()
        .expect("settings");
    let inserter = ChromaBatchInserter::with_settings(collection.clone(), settings).expect("start");
    let bad = [17, 200];
    let back = inserter
        .add_many((0..250).map(|i| record(i, &bad)))
        .expect_err("two records are invalid");
    assert_refused_as_add(&back, &bad, |i| {
        let single = inserter.add_record(record(i, &bad));
        single.expect_err("add refuses it too").error.to_string()
    });
    for (index, failed) in &back.failed {
        assert_eq!(failed.item.metadata, meta(*index), "the record comes back");
    }
    let report = inserter.close(Duration::from_secs(30));
    let stats = inserter.stats();
    // 100, 100 and 48 records; two refused by add_many, two by add.
    assert_written_as_add(&report, &Stats::default(), &stats, (248, 3));
    assert_eq!(stats.total_refused, 4);
    assert_eq!(collection.count().expect("count"), 248);
    let got = collection
        .get(&["chunk-0", "chunk-16", "chunk-18", "chunk-249", "chunk-17"])
        .expect("get");
    assert_eq!(got.ids, ["chunk-0", "chunk-16", "chunk-18", "chunk-249"]);
}

#[test]
fn add_many_async_writes_from_a_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let collection = fresh_collection("addmany-async");
    let inserter = ChromaBatchInserter::new(collection.clone(), 10).expect("start");
    let back = runtime
        .block_on(inserter.add_many_async((0..25).map(|i| record(i, &[4]))))
        .expect_err("one record is invalid");
    assert_eq!(back.indexes(), [4]);
    let report = runtime.block_on(inserter.close_async());
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 24);
    assert_eq!(collection.count().expect("count"), 24);
}

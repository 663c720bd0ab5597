//! Upsert mode replaces records; add mode leaves them.

mod common;

use batch_chroma::{ChromaBatchInserter, ChromaSink, WriteMode};
use batch_core::BatcherSettings;
use common::{fresh_collection, meta, vector};

fn inserter(collection: &batch_chroma::Collection, mode: WriteMode) -> ChromaBatchInserter {
    let sink = ChromaSink::new(collection.clone(), mode).expect("chroma");
    let settings = BatcherSettings::builder()
        .batch_size(50)
        .build()
        .expect("chroma");
    ChromaBatchInserter::with_sink(sink, settings).expect("chroma")
}

#[test]
fn upsert_replaces_vectors_and_add_does_not() {
    let collection = fresh_collection("upsert");
    let first = inserter(&collection, WriteMode::Add);
    for i in 0..100 {
        first.add(format!("u{i}"), vector(i, 16), meta(i)).unwrap();
    }
    assert_eq!(first.flush().written, 100);

    // Add again with new vectors: nothing changes, all are conflicts.
    for i in 0..100 {
        first
            .add(format!("u{i}"), vector(i + 1000, 16), meta(i))
            .unwrap();
    }
    let report = first.flush();
    assert_eq!((report.written, report.conflicts), (0, 100));
    let got = collection.get(&["u7"]).unwrap();
    assert_eq!(got.embeddings.unwrap()[0], vector(7, 16));

    // Upsert: replaced.
    let second = inserter(&collection, WriteMode::Upsert);
    for i in 0..100 {
        second
            .add(format!("u{i}"), vector(i + 1000, 16), meta(i + 1000))
            .unwrap();
    }
    let report = second.flush();
    assert_eq!((report.written, report.conflicts), (100, 0));
    assert_eq!(collection.count().unwrap(), 100);
    let got = collection.get(&["u7", "u99"]).unwrap();
    assert_eq!(
        got.embeddings.unwrap(),
        vec![vector(1007, 16), vector(1099, 16)]
    );
    assert_eq!(
        got.metadatas.unwrap(),
        vec![Some(meta(1007)), Some(meta(1099))]
    );
}

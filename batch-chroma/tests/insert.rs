//! Writing records in batches to the real server and reading them back.

mod common;

use std::time::Duration;

use batch_chroma::{ChromaBatchInserter, ChromaSink, EmbeddingEncoding, WriteMode};
use batch_core::BatcherSettings;
use common::{fresh_collection, meta, vector};

fn write_and_check(encoding: EmbeddingEncoding) {
    let collection = fresh_collection("insert");
    let sink = ChromaSink::new(collection.clone(), WriteMode::Add).expect("chroma");
    let settings = BatcherSettings::builder().batch_size(100).build();
    let inserter =
        ChromaBatchInserter::with_sink(sink.with_encoding(encoding), settings.expect("chroma"));
    let inserter = inserter.expect("chroma");
    for i in 0..250 {
        let (id, text) = (format!("chunk-{i}"), format!("text {i}"));
        let added = inserter.add_with_document(id, vector(i, 384), meta(i), text);
        added.expect("chroma");
    }
    let report = inserter.flush();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 250);

    let stats = inserter.stats();
    assert_eq!(stats.total_requests, 3, "{stats:?}");
    assert_eq!(stats.total_batches, 3);
    assert_eq!(stats.total_added, 250);
    assert_eq!(stats.total_fallbacks, 0);
    // Stats equal what the server holds.
    assert_eq!(collection.count().expect("chroma"), stats.total_added);
    let map = inserter.get_stats();
    assert_eq!(
        (map["total_added"], map["pending"]),
        (250, 0),
        "added, pending"
    );

    let sample = [0usize, 1, 99, 100, 101, 199, 200, 249];
    let ids: Vec<String> = sample.iter().map(|i| format!("chunk-{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let got = collection.get(&id_refs).expect("chroma");
    assert_eq!(got.ids, ids);
    let embeddings = got.embeddings.expect("chroma");
    let metadatas = got.metadatas.expect("chroma");
    let documents = got.documents.expect("chroma");
    for (k, &i) in sample.iter().enumerate() {
        let want = vector(i, 384);
        // f32-exact: compare bits.
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let same = bits(&embeddings[k]) == bits(&want);
        assert!(same && embeddings[k].len() == 384, "vector {i} differs");
        assert_eq!(metadatas[k].as_ref(), Some(&meta(i)), "metadata {i}");
        assert_eq!(documents[k].as_deref(), Some(format!("text {i}").as_str()));
    }
    let report = inserter.close(Duration::from_secs(10));
    assert!(report.is_complete());
}

#[test]
fn batches_of_100_write_250_vectors_in_3_requests_base64() {
    write_and_check(EmbeddingEncoding::Base64);
}

#[test]
fn batches_of_100_write_250_vectors_in_3_requests_json_floats() {
    write_and_check(EmbeddingEncoding::JsonFloats);
}

#[test]
fn records_without_metadata_or_document_are_written() {
    let collection = fresh_collection("bare");
    let inserter = ChromaBatchInserter::new(collection.clone(), 10).unwrap();
    for i in 0..15 {
        let added = inserter.add(format!("b{i}"), vector(i, 8), Default::default());
        added.unwrap();
    }
    drop(inserter); // Drop flushes.
    assert_eq!(collection.count().unwrap(), 15);
    let got = collection.get(&["b3"]).unwrap();
    assert_eq!(got.metadatas.unwrap(), vec![None]);
    assert_eq!(got.documents.unwrap(), vec![None]);
}

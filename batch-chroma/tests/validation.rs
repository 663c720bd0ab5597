//! Bad records are refused before any round trip; duplicates and existing
//! ids are counted honestly.

mod common;

use std::time::Duration;

use batch_chroma::{
    ChromaBatchInserter, ChromaClient, ChromaError, ChromaRecord, ChromaSink, WriteMode, metadata,
};
use batch_core::{BatchError, BatcherSettings, ItemOutcome, Sink};
use common::{fresh_collection, meta, vector};

/// Whether `e` is the server's answer with HTTP `status`.
fn is_status(e: &ChromaError, status: u16) -> bool {
    matches!(e, ChromaError::Http(h) if h.status() == Some(status))
}

/// The record outcomes as words.
fn words(outcomes: &[ItemOutcome<ChromaError>]) -> Vec<&'static str> {
    let word = |o: &ItemOutcome<ChromaError>| match o {
        ItemOutcome::Written => "written",
        ItemOutcome::Conflict => "conflict",
        ItemOutcome::Failed(_) => "failed",
    };
    outcomes.iter().map(word).collect()
}

#[test]
fn a_wrong_dimension_vector_is_handed_back_and_the_others_are_written() {
    let collection = fresh_collection("wrongdim");
    let inserter = ChromaBatchInserter::new(collection.clone(), 10).unwrap();
    // The first accepted batch tells the dimension.
    inserter.add("first", vector(99, 384), meta(99)).unwrap();
    assert_eq!(inserter.flush().written, 1);
    let mut refused = Vec::new();
    for i in 0..10 {
        let dim = if i == 4 { 383 } else { 384 };
        if let Err(failed) = inserter.add(format!("w{i}"), vector(i, dim), meta(i)) {
            refused.push(failed);
        }
    }
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].item.id, "w4");
    let BatchError::Invalid(msg) = &refused[0].error else {
        panic!("{:?}", refused[0].error)
    };
    let names_both = msg.contains("383 dimensions") && msg.contains("384");
    assert!(names_both, "{msg}");
    let report = inserter.flush();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 9);
    let stats = inserter.stats();
    // One request for the first, one for the nine, none for the refused
    // one, no fallback.
    assert_eq!((stats.total_requests, stats.total_fallbacks), (2, 0));
    assert_eq!(collection.count().unwrap(), 10);
}

#[test]
fn the_sinks_item_check_names_each_bad_record() {
    // The check the batcher runs at add time, asked of the sink directly.
    let collection = fresh_collection("sinkcheck");
    let mut sink = ChromaSink::new(collection.clone(), WriteMode::Add).unwrap();
    // One accepted write tells the sink the dimension (2).
    let seed = ChromaRecord::new("seed", vec![0.0, 1.0], meta(0));
    sink.write_batch(&[seed]).unwrap();
    let check = sink.item_check().expect("the Chroma sink checks records");
    let records = [
        ChromaRecord::new("ok1", vec![1.0, 2.0], meta(1)),
        ChromaRecord::new("", vec![1.0, 2.0], meta(2)),
        ChromaRecord::new("nan", vec![f32::NAN, 2.0], meta(3)),
        ChromaRecord::new("dim", vec![1.0, 2.0, 3.0], meta(4)),
        ChromaRecord::new("key", vec![1.0, 2.0], metadata([("chroma:x", 1.into())])),
        ChromaRecord::new("ok2", vec![3.0, 4.0], meta(5)),
    ];
    let verdicts: Vec<Result<(), String>> = records.iter().map(|r| check(r)).collect();
    assert!(verdicts[0].is_ok() && verdicts[5].is_ok(), "{verdicts:?}");
    for (i, needle) in [
        (1, "id is empty"),
        (2, "\"nan\""),
        (3, "\"dim\""),
        (4, "\"key\""),
    ] {
        let reason = verdicts[i].as_ref().expect_err("refused");
        assert!(reason.contains(needle), "record {i}: {reason}");
    }
    assert_eq!(collection.count().unwrap(), 1, "checking sends nothing");
    // Logs and messages about a record name it by its id.
    assert_eq!(ChromaSink::item_key(&records[5]).as_deref(), Some("ok2"));
}

#[test]
fn non_finite_values_and_reserved_keys_are_refused_by_add() {
    let collection = fresh_collection("nonfinite");
    let inserter = ChromaBatchInserter::new(collection.clone(), 10).unwrap();
    let bad = [
        ("", vector(0, 4), meta(0)),
        ("nan", vec![0.0, f32::NAN, 0.0, 0.0], meta(0)),
        ("inf", vec![0.0, f32::NEG_INFINITY, 0.0, 0.0], meta(0)),
        ("hash", vector(0, 4), metadata([("#doc", "x".into())])),
        ("fnan", vector(0, 4), metadata([("f", f64::NAN.into())])),
    ];
    for (id, v, m) in bad {
        let failed = inserter.add(id, v, m).unwrap_err();
        let invalid = matches!(failed.error, BatchError::Invalid(_));
        assert!(invalid, "{id}: {:?}", failed.error);
    }
    inserter.add("fine", vector(0, 4), meta(0)).unwrap();
    let report = inserter.close(Duration::from_secs(10));
    assert!(report.is_complete());
    assert_eq!(inserter.stats().total_received, 1);
    assert_eq!(collection.count().unwrap(), 1);
}

#[test]
fn add_keeps_the_first_duplicate_and_counts_existing_ids_as_conflicts() {
    let collection = fresh_collection("dupadd");
    let inserter = ChromaBatchInserter::new(collection.clone(), 100).unwrap();
    // The second batch has an id already on the server: a conflict, not
    // a write.
    for (batch, adds, expected) in [
        ("first", [("a", 1), ("b", 2), ("a", 9)].as_slice(), (2, 1)),
        ("later", [("b", 7), ("c", 3)].as_slice(), (1, 1)),
    ] {
        for &(id, i) in adds {
            let v = i as f32;
            inserter.add(id, vec![v, v], meta(i)).unwrap();
        }
        let report = inserter.flush();
        let counted = (report.written, report.conflicts);
        assert_eq!(counted, expected, "{batch}: {report:?}");
    }
    let stats = inserter.stats();
    assert_eq!(stats.total_added, collection.count().unwrap());
    assert_eq!(stats.total_conflicts, 2);
    let got = collection.get(&["a", "b"]).unwrap().embeddings.unwrap();
    assert_eq!(got, vec![vec![1.0, 1.0], vec![2.0, 2.0]]);
}

#[test]
fn upsert_keeps_the_last_duplicate() {
    let collection = fresh_collection("dupupsert");
    let sink = ChromaSink::new(collection.clone(), WriteMode::Upsert).unwrap();
    let settings = BatcherSettings::builder().batch_size(100).build().unwrap();
    let inserter = ChromaBatchInserter::with_sink(sink, settings).unwrap();
    inserter.add("a", vec![1.0, 1.0], meta(1)).unwrap();
    inserter.add("a", vec![9.0, 9.0], meta(9)).unwrap();
    let report = inserter.flush();
    assert_eq!((report.written, report.conflicts), (1, 1), "{report:?}");
    let got = collection.get(&["a"]).unwrap();
    assert_eq!(got.embeddings.unwrap(), vec![vec![9.0, 9.0]]);
    assert_eq!(got.metadatas.unwrap(), vec![Some(meta(9))]);
}

#[test]
fn a_deleted_collection_hands_every_record_back_as_permanent() {
    let collection = fresh_collection("gone");
    let inserter = ChromaBatchInserter::new(collection.clone(), 10).unwrap();
    inserter.add("x0", vec![1.0], meta(0)).unwrap();
    assert_eq!(inserter.flush().written, 1);
    let client = collection.client();
    client.delete_collection(collection.name()).unwrap();
    for i in 1..4 {
        inserter.add(format!("x{i}"), vec![1.0], meta(i)).unwrap();
    }
    let report = inserter.flush();
    assert_eq!(report.failed.len(), 3, "{report:?}");
    for f in &report.failed {
        let e = f.error.sink_error().expect("a sink error");
        assert!(is_status(e, 404), "{e}");
    }
    assert_eq!(inserter.stats().total_retries, 0);
}

#[test]
fn a_server_side_400_is_bisected_and_handed_back_per_record() {
    // Opened before any record exists: the client cannot know the
    // dimension another writer fixes meanwhile, so the server refuses.
    let stale = fresh_collection("server400");
    let first = ChromaBatchInserter::new(stale.clone(), 10).unwrap();
    first.add("two", vec![1.0, 2.0], meta(0)).unwrap();
    assert_eq!(first.flush().written, 1);
    let second = ChromaBatchInserter::new(stale.clone(), 10).unwrap();
    for i in 0..4 {
        let three = vec![1.0, 2.0, 3.0];
        second.add(format!("three{i}"), three, meta(i)).unwrap();
    }
    let report = second.flush();
    assert_eq!((report.written, report.failed.len()), (0, 4), "{report:?}");
    for f in &report.failed {
        let e = f.error.sink_error().expect("a sink error");
        assert!(is_status(e, 400), "{e}");
        assert!(e.to_string().contains("dimension of 2"), "{e}");
    }
    let stats = second.stats();
    let counted = (stats.total_fallbacks, stats.total_retries);
    assert_eq!(counted, (1, 0), "fallbacks, retries: {stats:?}");
    assert_eq!(stale.count().unwrap(), 1);
}

#[test]
fn a_url_without_scheme_is_refused_with_a_message_that_says_so() {
    let built = ChromaClient::builder("127.0.0.1:11000").build();
    let msg = built
        .expect_err("a URL without http:// is refused")
        .to_string();
    let names_it = msg.contains("no scheme") && msg.contains("http://127.0.0.1:11000");
    assert!(names_it, "{msg}");
    let err = ChromaClient::new("127.0.0.1:11000").expect_err("new checks it too");
    assert!(err.to_string().contains("no scheme"), "{err}");
    let built = ChromaClient::builder("http://user:secret@:8000").build();
    let msg = built
        .expect_err("a URL without host is refused")
        .to_string();
    assert!(msg.contains("no host") && !msg.contains("secret"), "{msg}");
}

#[test]
fn a_first_record_the_server_refuses_does_not_fix_the_dimension() {
    // The probe: an empty collection, a first 5-dim record the
    // server refuses for another reason (a `$` metadata key, which the
    // client lets through), then nine valid 4-dim records.
    let collection = fresh_collection("firstrefused");
    let inserter = ChromaBatchInserter::new(collection.clone(), 10).unwrap();
    let dollar = metadata([("$x", 1.into())]);
    let added = inserter.add("bad", vector(0, 5), dollar);
    added.expect("the client does not know `$` keys are refused");
    let report = inserter.flush();
    assert_eq!((report.written, report.failed.len()), (0, 1), "{report:?}");
    let e = report.failed[0].error.sink_error().expect("a sink error");
    assert!(is_status(e, 400), "{e}");
    for i in 1..10 {
        let added = inserter.add(format!("ok{i}"), vector(i, 4), meta(i));
        added.unwrap_or_else(|f| panic!("record {i} refused: {}", f.error));
    }
    assert_eq!(inserter.dimension(), None, "nothing was accepted yet");
    let report = inserter.flush();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 9);
    // The first accepted batch fixes the dimension: now 5-dim is refused.
    assert_eq!(inserter.dimension(), Some(4));
    let failed = inserter.add("five", vector(0, 5), meta(0)).unwrap_err();
    assert!(matches!(failed.error, BatchError::Invalid(_)), "{failed:?}");
    let stats = inserter.stats();
    assert_eq!(stats.total_added, 9, "{stats:?}");
    assert_eq!(stats.total_refused, 1, "{stats:?}");
    assert_eq!(collection.count().unwrap(), stats.total_added);
}

#[test]
fn a_record_checked_before_the_dimension_was_known_is_refused_per_record() {
    // Both passed the add-time check while the dimension was unknown; the
    // first accepted batch then fixed it at 4.
    let collection = fresh_collection("latedim");
    let mut sink = ChromaSink::new(collection.clone(), WriteMode::Add).unwrap();
    let record = |id: &str, i: usize, dim| ChromaRecord::new(id, vector(i, dim), meta(i));
    sink.write_batch(&[record("four", 0, 4)]).unwrap();
    let outcomes = sink.write_batch(&[record("five", 1, 5), record("four2", 2, 4)]);
    let outcomes = outcomes.unwrap();
    let [
        ItemOutcome::Failed(ChromaError::Invalid(msg)),
        ItemOutcome::Written,
    ] = &outcomes[..]
    else {
        panic!("{outcomes:?}")
    };
    let names_all = msg.contains("\"five\"") && msg.contains("5 dimensions");
    assert!(names_all && msg.contains("has 4"), "{msg}");
    assert_eq!(collection.count().unwrap(), 2);
}

#[test]
fn a_replay_counts_our_own_stored_records_as_written_and_others_as_conflicts() {
    // What the batcher does after an ambiguous add (timeout): replay the
    // same records. The sink is driven directly so the outcome is certain.
    // cosine collections hand back a normalized copy of the vector.
    for space in ["l2", "cosine"] {
        replay_counts_our_own_records(space);
    }
}

fn replay_counts_our_own_records(space: &str) {
    let name = test_support::test_servers::unique_name("replay");
    let space_metadata = metadata([("hnsw:space", space.into())]);
    let collection = common::client().get_or_create_collection(&name, &space_metadata);
    let collection = collection.expect("collection");
    let ours = |i: usize| ChromaRecord::new(format!("r{i}"), vector(i, 8), meta(i));
    for mode in [WriteMode::Add, WriteMode::Upsert] {
        let mut sink = ChromaSink::new(collection.clone(), mode).expect("sink");
        let prefix = format!("{mode:?}-");
        let rec = |i: usize| {
            let mut r = ours(i);
            r.id = format!("{prefix}{}", r.id);
            r
        };
        // r0, r1: "the lost attempt" stored them. r2: someone else's
        // record under our id. r3: not stored yet.
        let outcomes = sink.write_batch(&[rec(0), rec(1)]).expect("write");
        assert_eq!(words(&outcomes), ["written"; 2], "{mode:?} {space}");
        let mut other = rec(2);
        other.embedding = vector(99, 8);
        sink.write_batch(&[other]).expect("write");

        let replayed = sink.replay_batch(&[rec(0), rec(1), rec(2), rec(3)]);
        let got = words(&replayed.expect("replay"));
        let want = match mode {
            // /add leaves someone else's r2 in place.
            WriteMode::Add => ["written", "written", "conflict", "written"],
            // /upsert replaces it with ours.
            WriteMode::Upsert => ["written", "written", "written", "written"],
        };
        assert_eq!(got, want, "{mode:?} {space}");
    }
    assert_eq!(collection.count().expect("count"), 8);
}

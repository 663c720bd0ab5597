//! The fuzz target's smoke run (feature `fuzzing`): seeds and a few
//! thousand deterministic mutations of CouchDB answers through
//! batch-couch's writes and reads, in seconds, on stable Rust, against a
//! scripted local HTTP server (no CouchDB needed). The real runs: `cargo
//! +nightly fuzz run couch_answers` in `fuzz/` (see `docs/fuzzing.md`).

use batch_core::fuzzing::smoke;
use batch_couch::fuzzing;

#[test]
fn couch_answers_survive_seeds_and_mutations() {
    let seeds = fuzzing::couch_seeds();
    assert_eq!(
        smoke(&seeds, 1000, fuzzing::couch_answers),
        seeds.len() + 1000
    );
}

/// Writes the seed corpus of `couch_answers` (run by hand: `cargo test -p
/// batch-couch --features fuzzing --test fuzz_smoke -- --ignored`).
#[test]
#[ignore = "writes fuzz/corpus/couch_answers"]
fn write_couch_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/couch_answers");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (i, seed) in fuzzing::couch_seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("answers-{i}")), seed).expect("write");
    }
}

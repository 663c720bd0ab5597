//! The fuzz targets' smoke runs (feature `fuzzing`): each target's seeds
//! and a few thousand deterministic mutations of them through its entry
//! point, in seconds, on stable Rust. The real runs are `cargo +nightly
//! fuzz run <target>` in `fuzz/` (see `docs/fuzzing.md`).

use batch_core::fuzzing;

/// The committed seed corpus of `target` (`fuzz/corpus/<target>/`).
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("seed"))
        .collect()
}

#[test]
fn segment_recovery_survives_seeds_and_mutations() {
    let mut seeds = fuzzing::segment_seeds();
    // The same logs with every checksum fixed after mutation (mode bit 0).
    seeds.extend(seeds.clone().into_iter().map(|mut s| {
        s[0] |= 1;
        s
    }));
    seeds.extend(corpus("segment_recovery"));
    let ran = fuzzing::smoke(&seeds, 3000, fuzzing::segment_recovery);
    assert_eq!(ran, seeds.len() + 3000);
}

#[test]
fn url_and_env_parsing_survive_seeds_and_mutations() {
    let seeds = corpus("url_env");
    assert!(seeds.len() >= 6, "{}", seeds.len());
    let ran = fuzzing::smoke(&seeds, 5000, fuzzing::url_env);
    assert_eq!(ran, seeds.len() + 5000);
}

/// Writes the seed corpus of `segment_recovery` from real logs (run by
/// hand after a format change: `cargo test -p batch-core --features
/// fuzzing --test fuzz_smoke -- --ignored`).
#[test]
#[ignore = "writes fuzz/corpus/segment_recovery"]
fn write_segment_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/segment_recovery");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (i, seed) in fuzzing::segment_seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("log-{i}")), seed).expect("write");
    }
}

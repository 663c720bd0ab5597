//! `cargo xtask test`: the whole suite, as CI runs it.
//!
//! Starts the services, runs fmt, clippy, rustdoc (warnings denied), the
//! tests against them, each published crate alone (`cargo test -p CRATE`
//! with its default features, `cargo check -p CRATE --no-default-features`),
//! and `cargo package` of every published crate, runs `services check`, then
//! stops only the services it started, also when a step failed. Exits
//! non-zero if anything failed.

use std::process::ExitCode;

use crate::harness::{cargo, with_services};
use crate::package_overlay::{self, PUBLISHED};
use crate::services;

/// The long help of `cargo xtask test`.
pub const ABOUT: &str = "\
The whole suite, as CI runs it. Starts the test servers that are not running
yet (like `cargo xtask services up`), then runs, stopping at the first step
that fails:
  cargo fmt --all --check
  cargo clippy --workspace --all-targets --all-features -- -D warnings
  cargo doc --workspace --all-features --no-deps   (rustdoc warnings fail it)
  cargo test --workspace --all-features
  for each published crate (batch-core, batch-chroma, batch-neo4j,
  batch-postgres, batch-couch, uds3-batch), alone:
    cargo test -p CRATE                          (its default features)
    cargo check -p CRATE --no-default-features
  cargo package --workspace --allow-dirty   (but xtask, test-support, uds3-bench)
  cargo xtask services check
and stops the servers it started, also when a step failed; servers that were
already running stay up. Exits non-zero if anything failed.";

pub(crate) const STEPS: &[&[&str]] = &[
    &["fmt", "--all", "--check"],
    &[
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ],
    // Any rustdoc warning (a broken intra-doc link, ...) fails the run.
    &[
        "doc",
        "--workspace",
        "--all-features",
        "--no-deps",
        "--config",
        r#"build.rustdocflags=["-D", "warnings"]"#,
    ],
    &["test", "--workspace", "--all-features"],
];

/// Every published crate alone, as a user builds it (issue 30, defect 6:
/// `--all-features` alone hid a test that needs a feature but was not
/// gated on it): its own tests with its default features, and the library
/// with no default features (without `--all-targets`, so that no
/// dev-dependency lends it a feature).
fn alone(krate: &str) -> [Vec<&str>; 2] {
    [
        vec!["test", "-p", krate],
        vec!["check", "-p", krate, "--no-default-features"],
    ]
}

pub(crate) const PACKAGE: &[&[&str]] = &[
    // Each published crate packages, and builds from its .crate alone
    // (unpublished path dependencies come from a local overlay). Not the
    // dirty-tree check: that is for `cargo publish`.
    &[
        "package",
        "--workspace",
        "--exclude",
        "xtask",
        "--exclude",
        "test-support",
        "--exclude",
        "uds3-bench",
        "--allow-dirty",
    ],
];

/// Runs the suite; see the module doc.
pub fn run() -> ExitCode {
    with_services("test", |ctx| {
        match package_overlay::forget_extracted_crates() {
            Ok(removed) if !removed.is_empty() => {
                eprintln!(
                    "xtask: removed {} stale extracted copies of this workspace's crates",
                    removed.len()
                );
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("xtask: cannot clear Cargo's copies of this workspace's crates: {e}");
                return false;
            }
        }
        if !STEPS.iter().all(|step| cargo(ctx, step)) {
            return false;
        }
        let each_alone = PUBLISHED.iter().flat_map(|krate| alone(krate));
        if !each_alone.into_iter().all(|step| cargo(ctx, &step)) {
            return false;
        }
        if !PACKAGE.iter().all(|step| cargo(ctx, step)) {
            return false;
        }
        eprintln!("xtask: services check");
        let ok = services::check_all(ctx);
        if !ok {
            eprintln!("xtask: services check failed");
        }
        ok
    })
}

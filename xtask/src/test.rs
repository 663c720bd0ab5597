//! `cargo xtask test`: the whole suite, as CI runs it.
//!
//! Starts the services, runs fmt, clippy, rustdoc (warnings denied), the
//! tests against them and `cargo package` of every published crate, runs
//! `services check`, then stops only the services it started, also when a
//! step failed. Exits non-zero if anything failed.

use std::process::ExitCode;

use crate::harness::{cargo, with_services};
use crate::package_overlay;
use crate::services;

const STEPS: &[&[&str]] = &[
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
    // Each published crate packages, and builds from its .crate alone
    // (unpublished path dependencies come from a local overlay). Not the
    // dirty-tree check: that is for `cargo publish`.
    &[
        "package",
        "--workspace",
        "--exclude",
        "xtask",
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
        eprintln!("xtask: services check");
        let ok = services::check_all(ctx);
        if !ok {
            eprintln!("xtask: services check failed");
        }
        ok
    })
}

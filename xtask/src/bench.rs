//! `cargo xtask bench [--quick] [--only LIST]`: the main job. Starts the
//! services, runs the benchmark (the `uds3-bench` crate's binary, release
//! build) against them, and stops what it
//! started. Results land in `$CARGO_TARGET_DIR/bench/`, else
//! `target/bench/` (`results.json`, `results.md`, `throughput.svg`).
//! `cargo xtask bench --soak N` runs issue 33's soak alone instead
//! (`soak.json`, `soak.md`, `soak.svg`).

use std::process::ExitCode;

use crate::harness::{cargo, with_services};

/// Runs the benchmark with the given arguments (`--quick`, `--only ...`).
pub fn run(args: &[String]) -> ExitCode {
    with_services("bench", |ctx| {
        let mut cmd: Vec<&str> = vec![
            "run",
            "--release",
            "--quiet",
            "--package",
            "uds3-bench",
            "--bin",
            "uds3-bench",
            "--",
        ];
        cmd.extend(args.iter().map(String::as_str));
        cargo(ctx, &cmd)
    })
}

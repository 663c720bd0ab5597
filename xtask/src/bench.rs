//! `cargo xtask bench [--quick] [--only LIST]`: the main job. Starts the
//! services, runs the benchmark (`uds3-batch/examples/bench`, release
//! build) against them, and stops what it started. Results land in
//! `target/bench/` (`results.json`, `results.md`, `throughput.svg`).

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
            "uds3-batch",
            "--example",
            "bench",
            "--features",
            "full",
            "--",
        ];
        cmd.extend(args.iter().map(String::as_str));
        cargo(ctx, &cmd)
    })
}

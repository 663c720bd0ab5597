//! `cargo xtask bench [--quick] [--only LIST]`: the main job. Starts the
//! services, runs the benchmark (the `uds3-bench` crate's binary, release
//! build) against them, and stops what it
//! started. Results land in `$CARGO_TARGET_DIR/bench/`, else
//! `target/bench/` (`results.json`, `results.md`, `throughput.svg`).
//! `cargo xtask bench --soak N` runs issue 33's soak alone instead
//! (`soak.json`, `soak.md`, `soak.svg`).

use std::process::ExitCode;

use xtask::bench_args::BenchArgs;

use crate::harness::{cargo, with_services};

/// What `cargo xtask bench` adds to the benchmark (the end of its long
/// help, after what `uds3-bench` measures).
pub const ABOUT: &str = "\
Starts the test servers that are not running yet (like `cargo xtask
services up`), builds and runs the benchmark (`cargo run --release -p
uds3-bench`), then stops the servers it started.";

/// Runs the benchmark with the given options, checked before the servers
/// start.
pub fn run(args: &BenchArgs) -> ExitCode {
    let args = args.to_args();
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

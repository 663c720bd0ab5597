//! `cargo xtask test`: the whole suite, as CI runs it.
//!
//! Starts the services (noting which were already running), runs fmt, clippy
//! and the tests with the `UDS3_*` variables and `UDS3_XTASK` set for them,
//! runs `services check`, then stops only the services it started, also when
//! a step failed. Exits non-zero if anything failed.

use std::process::{Command, ExitCode};
use std::time::Instant;

use batch_core::testing::services::{SERVICES_DIR_VAR, Service, XTASK_VAR};

use crate::services::{self, Ctx, Outcome};

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
    &["test", "--workspace", "--all-features"],
];

/// Runs the suite; see the module doc.
pub fn run() -> ExitCode {
    let start = Instant::now();
    let ctx = match Ctx::from_env() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("xtask: services up (state in {})", ctx.dir.display());
    let (up_ok, outcomes) = services::up_report(&ctx, &Service::ALL);
    let started: Vec<Service> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Started { .. }))
        .map(|(s, _)| *s)
        .collect();
    let ok = up_ok && run_steps(&ctx);
    if !started.is_empty() {
        let names: Vec<&str> = started.iter().map(|s| s.name()).collect();
        eprintln!(
            "xtask: stopping the services this run started: {}",
            names.join(" ")
        );
        if !services::down_report(&ctx, &started) {
            eprintln!("xtask: some services did not stop");
        }
    }
    // Services that failed to start may have been left half-started by an
    // earlier run: `up` already stopped what it spawned.
    let secs = start.elapsed().as_secs_f64();
    if ok {
        eprintln!("xtask: test passed in {secs:.0} s");
        ExitCode::SUCCESS
    } else {
        eprintln!("xtask: test FAILED after {secs:.0} s");
        ExitCode::FAILURE
    }
}

/// fmt, clippy, tests, services check; stops at the first failure.
fn run_steps(ctx: &Ctx) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let xtask = std::env::current_exe().ok();
    for step in STEPS {
        eprintln!("xtask: cargo {}", step.join(" "));
        let mut cmd = Command::new(&cargo);
        cmd.args(*step);
        for (name, value) in ctx.endpoints.vars() {
            cmd.env(name, value);
        }
        cmd.env(SERVICES_DIR_VAR, &ctx.dir);
        if let Some(xtask) = &xtask {
            cmd.env(XTASK_VAR, xtask);
        }
        match cmd.status() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("xtask: cargo {} failed ({status})", step.join(" "));
                return false;
            }
            Err(err) => {
                eprintln!("xtask: cannot run cargo: {err}");
                return false;
            }
        }
    }
    eprintln!("xtask: services check");
    if !services::check_all(ctx) {
        eprintln!("xtask: services check failed");
        return false;
    }
    true
}

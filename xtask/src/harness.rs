//! What `cargo xtask test` and `cargo xtask bench` share: start the
//! services (noting which were already running), run cargo with the
//! `UDS3_*` variables set, and stop only the services this run started,
//! also when a step failed.

use std::process::{Command, ExitCode};
use std::time::Instant;

use xtask::test_servers::{SERVICES_DIR_VAR, Service, XTASK_VAR};

use crate::services::{self, Ctx, Outcome};

/// Runs `job` with every service up; `what` names the job in messages.
pub fn with_services(what: &str, job: impl FnOnce(&Ctx) -> bool) -> ExitCode {
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
    let ok = up_ok && job(&ctx);
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
    // Services that failed to start were already stopped by `up`.
    let secs = start.elapsed().as_secs_f64();
    if ok {
        eprintln!("xtask: {what} passed in {secs:.0} s");
        ExitCode::SUCCESS
    } else {
        eprintln!("xtask: {what} FAILED after {secs:.0} s");
        ExitCode::FAILURE
    }
}

/// Runs `cargo ARGS` with the services' variables and `UDS3_XTASK` set.
pub fn cargo(ctx: &Ctx, args: &[&str]) -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("xtask: cargo {}", args.join(" "));
    let mut cmd = Command::new(&cargo);
    cmd.args(args);
    for (name, value) in ctx.endpoints.vars() {
        cmd.env(name, value);
    }
    cmd.env(SERVICES_DIR_VAR, &ctx.dir);
    if let Ok(xtask) = std::env::current_exe() {
        cmd.env(XTASK_VAR, xtask);
    }
    match cmd.status() {
        Ok(status) if status.success() => true,
        Ok(status) => {
            eprintln!("xtask: cargo {} failed ({status})", args.join(" "));
            false
        }
        Err(err) => {
            eprintln!("xtask: cannot run cargo: {err}");
            false
        }
    }
}

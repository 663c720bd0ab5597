//! `cargo xtask`: project automation (test, bench, services).

mod bench;
mod harness;
mod package_overlay;
mod services;
mod test;

use std::process::ExitCode;

use xtask::bench_args::{self, BenchArgs, Parsed};

/// The help of `cargo xtask`, without the variables.
const HELP: &str = "\
usage: cargo xtask <command> [flags]
       cargo xtask help [command]

commands:
  test       what CI runs: starts the test servers, then fmt --check, clippy
             -D warnings, rustdoc, every test against the servers (and each
             published crate alone), `cargo package`, and `services check`;
             stops the servers it started (`cargo xtask test --help`)
  bench      benchmarks per-item against batched writes on the four servers;
             results in $CARGO_TARGET_DIR/bench/, else target/bench/
             (`cargo xtask bench --help`)
  services   installs, starts, stops and checks the test servers
             (`cargo xtask services --help`)
  help       prints this help, or a command's (also -h, --help)";

/// The help of `cargo xtask test`, without the variables.
const TEST_HELP: &str = "\
usage: cargo xtask test

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
already running stay up. Exits non-zero if anything failed.
Takes no flags but -h, --help.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("xtask: name a command (see `cargo xtask --help`)");
        return ExitCode::from(2);
    };
    let wants_help = rest.iter().any(|a| a == "-h" || a == "--help");
    match command.as_str() {
        "help" | "-h" | "--help" => match rest {
            [] => print_help(HELP),
            [topic] => help_for(topic),
            [_, extra, ..] => usage_error(None, &format!("help takes one command, got {extra:?}")),
        },
        "test" if wants_help => print_help(TEST_HELP),
        "test" => match rest.first() {
            None => test::run(),
            Some(arg) => usage_error(Some("test"), &unexpected(Some("test"), arg)),
        },
        "bench" => match BenchArgs::parse(rest) {
            Ok(Parsed::Help) => print_help(bench_args::HELP),
            Ok(Parsed::Run(_)) => bench::run(rest),
            Err(e) => usage_error(Some("bench"), &e),
        },
        "services" => services::main(rest),
        other => usage_error(None, &unexpected(None, other)),
    }
}

/// `cargo xtask help TOPIC`.
fn help_for(topic: &str) -> ExitCode {
    match topic {
        "test" => print_help(TEST_HELP),
        "bench" => print_help(bench_args::HELP),
        "services" => services::main(&["--help".to_owned()]),
        "help" => print_help(HELP),
        other => usage_error(None, &format!("no help for {other:?}: not a command")),
    }
}

/// Prints `text` and the `UDS3_*` variables; success.
fn print_help(text: &str) -> ExitCode {
    println!("{text}\n\n{}", services::variables_help());
    ExitCode::SUCCESS
}

/// The error for an argument that no command takes: a flag, or (after
/// `command`, if any) a word.
fn unexpected(command: Option<&str>, arg: &str) -> String {
    match command {
        _ if arg.starts_with('-') => format!("unknown flag {arg:?}"),
        None => format!("unknown command {arg:?}"),
        Some(command) => format!("{command} takes no arguments, got {arg:?}"),
    }
}

/// Reports a command-line error of `command` (if any); exit code 2.
fn usage_error(command: Option<&str>, message: &str) -> ExitCode {
    match command {
        Some(command) => {
            eprintln!("xtask {command}: {message} (see `cargo xtask {command} --help`)")
        }
        None => eprintln!("xtask: {message} (see `cargo xtask --help`)"),
    }
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cargo xtask test --help` names every step the run takes (it once
    /// left out the doc and package steps).
    #[test]
    fn test_help_names_every_step() {
        for step in test::STEPS.iter().chain(test::PACKAGE) {
            let named = format!("cargo {} {}", step[0], step[1]);
            assert!(TEST_HELP.contains(&named), "{named:?} missing");
        }
    }
}

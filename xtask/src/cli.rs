//! The command line of `cargo xtask` (clap derive): its commands, their
//! flags and help. Every help ends with the `UDS3_*` variables, added at
//! run time ([`command`]).

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use xtask::bench_args::{self, BenchArgs};

use crate::services::command::ServicesCommand;
use crate::{bench, services, test};

/// `cargo xtask`: project automation (test, bench, services).
#[derive(Debug, Parser)]
#[command(name = "xtask", bin_name = "cargo xtask")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `cargo xtask`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// What CI runs: starts the test servers, then fmt --check, clippy -D
    /// warnings, rustdoc, every test against the servers (and each
    /// published crate alone), `cargo package`, and `services check`; stops
    /// the servers it started
    #[command(long_about = test::ABOUT)]
    Test,
    /// Benchmarks per-item against batched writes on the four servers;
    /// results in $CARGO_TARGET_DIR/bench/, else target/bench/
    #[command(after_long_help = bench_args::OUTPUT)]
    Bench(BenchArgs),
    /// Installs, starts, stops and checks the test servers
    #[command(long_about = services::ABOUT)]
    Services {
        /// What to do with the servers.
        #[command(subcommand)]
        command: ServicesCommand,
    },
}

/// The whole command line, each help ending with the variables.
pub fn command() -> clap::Command {
    with_variables(Cli::command(), &services::variables_help())
}

fn with_variables(mut command: clap::Command, variables: &str) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| with_variables(sub, variables));
    }
    let after = match command.get_after_long_help() {
        Some(after) => format!("{after}\n\n{variables}"),
        None => variables.to_owned(),
    };
    let command = command.after_long_help(after);
    match long_about(&command) {
        Some(about) => command.long_about(about),
        None => command,
    }
}

/// `bench`'s long help: what it measures, then what `cargo xtask` adds.
fn long_about(command: &clap::Command) -> Option<String> {
    match command.get_name() {
        "bench" => Some(format!("{}\n\n{}", bench_args::ABOUT, bench::ABOUT)),
        _ => command.get_long_about().map(ToString::to_string),
    }
}

/// Parses the process's arguments; help and usage errors exit here, as
/// clap prints them (usage errors with code 2).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

#[cfg(test)]
mod tests {
    use xtask::test_servers::Service;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        let matches = command()
            .try_get_matches_from(std::iter::once("xtask").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        Cli::from_arg_matches(&matches).map_err(|e| e.to_string())
    }

    fn services(args: &[&str]) -> Result<ServicesCommand, String> {
        let args: Vec<&str> = std::iter::once("services")
            .chain(args.iter().copied())
            .collect();
        match parse(&args)?.command {
            Command::Services { command } => Ok(command),
            other => Err(format!("not services: {other:?}")),
        }
    }

    /// clap's own consistency checks, and every command's help renders
    /// with its text and the variables.
    #[test]
    fn every_help_renders() {
        command().debug_assert();
        let mut commands = vec![command()];
        while let Some(mut command) = commands.pop() {
            commands.extend(command.get_subcommands().cloned());
            let help = command.render_long_help().to_string();
            assert!(
                help.contains("UDS3_NEO4J_URI"),
                "{}: no variables in\n{help}",
                command.get_name()
            );
        }
    }

    /// `cargo xtask test --help` names every step the run takes (it once
    /// left out the doc and package steps).
    #[test]
    fn test_help_names_every_step() {
        let mut root = command();
        let help = root
            .find_subcommand_mut("test")
            .expect("test")
            .render_long_help()
            .to_string();
        for step in test::STEPS.iter().chain(test::PACKAGE) {
            let named = format!("cargo {} {}", step[0], step[1]);
            assert!(help.contains(&named), "{named:?} missing");
        }
    }

    #[test]
    fn bench_help_says_what_it_measures_and_that_it_starts_the_servers() {
        let mut root = command();
        let help = root
            .find_subcommand_mut("bench")
            .expect("bench")
            .render_long_help()
            .to_string();
        for named in [
            "of raw",
            "Starts the test servers",
            "--soak",
            "results.json",
        ] {
            assert!(help.contains(named), "{named:?} missing from\n{help}");
        }
    }

    #[test]
    fn commands_and_their_arguments() {
        assert!(matches!(
            parse(&["test"]),
            Ok(Cli {
                command: Command::Test
            })
        ));
        let Ok(Cli {
            command: Command::Bench(bench),
        }) = parse(&["bench", "--quick", "--only", "neo4j"])
        else {
            panic!("bench parses");
        };
        assert!(bench.quick && bench.runs_overlap());
        let up = services(&["up"]).expect("up");
        assert!(matches!(&up, ServicesCommand::Up(n) if n.services() == Service::ALL));
        let restart = services(&["restart", "neo4j", "neo4j"]).expect("restart");
        assert!(
            matches!(&restart, ServicesCommand::Restart(n) if n.services() == [Service::Neo4j])
        );
        assert_eq!(services(&["check"]), Ok(ServicesCommand::Check));
        let pause = services(&["pause", "couch"]).expect("pause");
        assert!(matches!(&pause, ServicesCommand::Pause(n) if n.services() == [Service::Couch]));
        let resume = services(&["resume", "couch"]).expect("resume");
        assert!(matches!(&resume, ServicesCommand::Resume(n) if n.services() == [Service::Couch]));
    }

    #[test]
    fn errors_name_the_argument() {
        for (bad, named) in [
            (&[][..], "Usage"),
            (&["bogus"][..], "bogus"),
            (&["--bogus"][..], "--bogus"),
            (&["test", "now"][..], "now"),
            (&["bench", "--bogus"][..], "--bogus"),
            (&["services"][..], "Usage"),
            (&["services", "up", "--bogus"][..], "--bogus"),
            (&["services", "--bogus"][..], "--bogus"),
            (&["services", "bogus"][..], "bogus"),
            (&["services", "status", "postgres"][..], "postgres"),
            (&["services", "stop"][..], "NAME"),
            (&["services", "pause"][..], "NAME"),
            (&["services", "up", "mongo"][..], "mongo"),
        ] {
            let err = parse(bad).expect_err("an error");
            assert!(
                err.contains(named),
                "{bad:?}: {err:?} does not name {named}"
            );
        }
    }
}

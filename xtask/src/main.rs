//! `cargo xtask`: project automation (test, bench, services).

mod bench;
mod cli;
mod harness;
mod package_overlay;
mod services;
mod test;

use std::process::ExitCode;

use cli::Command;

fn main() -> ExitCode {
    match cli::parse().command {
        Command::Test => test::run(),
        Command::Bench(args) => bench::run(&args),
        Command::Services { command } => services::run(&command),
    }
}

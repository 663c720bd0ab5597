//! `cargo xtask`: project automation (test, bench, services).

mod bench;
mod harness;
mod services;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>
  test              services up, fmt --check, clippy -D warnings, tests, services check;
                    then stops the services it started
  bench [--quick] [--only chroma,neo4j,postgres,couchdb]
                    services up, per-item vs batched vs raw on the real servers;
                    results in target/bench/ (json, md, svg); stops what it started
  services ...      install, start, stop and check the test servers (`cargo xtask services help`)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::run(),
        Some("bench") => bench::run(&args[1..]),
        Some("services") => services::main(&args[1..]),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

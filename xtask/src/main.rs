//! `cargo xtask`: project automation (test, services).

mod services;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>
  test              services up, fmt --check, clippy -D warnings, tests, services check;
                    then stops the services it started
  services ...      install, start, stop and check the test servers (`cargo xtask services help`)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test::run(),
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

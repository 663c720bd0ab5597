//! `uds3-buffer-repair DIR`: salvages a durable buffer that a batcher
//! refused to open for damage (see `batch_core::durable::repair`).

use std::path::PathBuf;
use std::process::ExitCode;

const HELP: &str = "\
usage: uds3-buffer-repair DIR

Salvages the durable buffer in DIR (BatcherSettings::durable, UDS3_BUFFER_DIR)
after a batcher refused to open it for damage. Every segment whose header or
records do not check out is rewritten from its sound records; the damaged
bytes go to DIR/quarantine/<segment>-<offset>.bin. Sound segments are left
as they are. Run it while no batcher has DIR open.

Afterwards the batcher opens DIR and replays the items kept. An item whose
resolution record was damaged is sent again (a replay, counted once); an item
whose own record was damaged is lost: the report names its sequence number,
so it can be sent again from its source.

Exit status: 0 when DIR opens now (repaired or sound), 1 on an error, 2 on a
usage error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = match args.as_slice() {
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        [dir] if !dir.starts_with('-') => PathBuf::from(dir),
        _ => {
            eprintln!("uds3-buffer-repair: name one directory (see --help)");
            return ExitCode::from(2);
        }
    };
    if !dir.is_dir() {
        eprintln!("uds3-buffer-repair: {}: not a directory", dir.display());
        return ExitCode::from(1);
    }
    match batch_core::durable::repair(&dir) {
        Ok(report) if report.repaired.is_empty() => {
            println!(
                "{}: {} segments, all sound; nothing to repair",
                dir.display(),
                report.segments
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for s in &report.repaired {
                println!("{}: {}", s.file.display(), s.problem);
                println!(
                    "  kept {} records ({} items); quarantined {} bytes in {} file(s)",
                    s.records_kept,
                    s.items_kept,
                    s.quarantined_bytes,
                    s.quarantine.len()
                );
                for (first, count) in &s.items_lost {
                    println!(
                        "  lost items with sequence numbers {first}..{}",
                        first + count - 1
                    );
                }
            }
            println!(
                "{}: {} of {} segments repaired",
                dir.display(),
                report.repaired.len(),
                report.segments
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("uds3-buffer-repair: {e}");
            ExitCode::from(1)
        }
    }
}

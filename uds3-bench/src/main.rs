//! `cargo xtask bench` runs this: per-item against batched writes on the
//! four real servers (several batches in flight, adaptive concurrency), the
//! library's own statements sent without it (raw), the servers' fastest
//! bulk paths (ceiling), batch 1000 over TLS against plaintext, and shared
//! use from 4 threads, optionally through relays that add a round trip.
//! Writes `results.{json,md}`, `throughput.svg` and `throughput_rtt.svg`
//! to `$CARGO_TARGET_DIR/bench/` if that variable is set, else to
//! `<workspace>/target/bench/`.
//!
//! Usage: `uds3-bench [--quick] [--only chroma,neo4j,postgres,couch] [--rtt 0,10] [--out DIR]`,
//! or `uds3-bench --soak N [--out DIR]` for issue 33's soak alone
//! (`soak.{json,md,svg}`; see `soak.rs`); `uds3-bench --help` says more
//! (endpoints from the `UDS3_*` variables of `cargo xtask services env`).

mod backend;
mod chroma;
mod corpus;
mod couch;
mod drive;
mod mode;
mod neo4j;
mod network;
mod output;
mod overlap;
mod postgres;
mod reads;
mod run;
mod runner;
mod soak;
mod soak_reference;
mod soak_sample;
mod soak_table;
mod stats;

use std::process::ExitCode;

use backend::Backend;
use clap::Parser;
use test_support::test_servers::Endpoints;
use xtask::bench_args::BenchCommand;

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find(|l| l.starts_with("MemTotal")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or("?".to_owned(), |kb| format!("{} GiB", kb / 1024 / 1024));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "Machine: {cores} cores, {mem} memory, Linux; all servers on loopback (127.0.0.1) on the same machine \
         (UDS3 v2.2's figures were measured against remote servers). Load average at the end: {}.",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// The backends to run, reaching the servers at `endpoints`.
fn backends(
    endpoints: &Endpoints,
    only: Option<&[String]>,
) -> Result<Vec<Box<dyn Backend>>, String> {
    let mut backends: Vec<Box<dyn Backend>> = vec![
        Box::new(chroma::Chroma::new(endpoints)?),
        Box::new(neo4j::Neo4j::new(endpoints)?),
        Box::new(postgres::Postgres::new(endpoints)),
        Box::new(couch::Couch::new(endpoints)),
    ];
    if let Some(only) = only {
        backends.retain(|b| only.iter().any(|o| o == b.profile().name));
    }
    Ok(backends)
}

fn main() -> ExitCode {
    // Help and usage errors (exit code 2) end here, as clap prints them.
    let args = BenchCommand::parse().args;
    let out = args.out_dir();
    let endpoints = Endpoints::from_env();
    let rounds = if args.quick { 1 } else { 3 };
    // Durable buffers on the results' file system (not /tmp, which may
    // be a tmpfs where an fsync is free); each run removes its own.
    mode::set_buffer_root(out.join("buffers"));
    if let Some(rows) = args.soak {
        // The soak runs alone: rows handed back or lost fail it; goals
        // not met are its verdict, printed and written, not a failure.
        return match soak::soak(&endpoints, rows, args.soak_in_memory, &out, machine) {
            Ok(verdict) if verdict.none_lost => ExitCode::SUCCESS,
            Ok(verdict) => {
                eprintln!(
                    "bench: soak: {} rows on the server of {} written",
                    verdict.arrived, verdict.expected
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("bench: soak: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let rtts = args.rtts();
    let mut plans = Vec::new();
    for &rtt in &rtts {
        let (routed, relays) = match network::with_round_trip(&endpoints, rtt) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("bench: {e}");
                return ExitCode::from(2);
            }
        };
        let backends = match backends(&routed, args.only.as_deref()) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("bench: {e}");
                return ExitCode::from(2);
            }
        };
        plans.push((rtt, relays, backends, routed));
    }
    // Per round trip, a bench per backend, in the same order.
    let mut benches: Vec<Vec<runner::Bench>> = plans
        .iter()
        .map(|(rtt, _, backends, _)| {
            backends
                .iter()
                .map(|b| runner::Bench::new(b.as_ref(), *rtt, args.quick))
                .collect()
        })
        .collect();
    let total: usize = benches.iter().flatten().map(|b| b.runs(rounds)).sum();
    let bar = output::progress(total as u64);
    // Backend by backend; within one, a round at every round trip before
    // the next round, so that the server's drift over its minutes hits
    // every round trip alike. The servers stay warm from one round trip
    // to the next: one warm-up, at the first.
    let count = plans
        .first()
        .map_or(0, |(_, _, backends, _)| backends.len());
    for b in 0..count {
        let began = std::time::Instant::now();
        for round in 0..=rounds {
            for (k, ((rtt, _, backends, _), benches)) in
                plans.iter_mut().zip(&mut benches).enumerate()
            {
                let (Some(backend), Some(bench)) = (backends.get_mut(b), benches.get_mut(b)) else {
                    continue;
                };
                let step = match round {
                    0 if k == 0 => bench.warm_up(backend.as_mut(), &bar),
                    0 => Ok(()),
                    _ => bench.round(backend.as_mut(), &bar),
                };
                if let Err(e) = step {
                    bar.abandon();
                    eprintln!("bench: rtt {rtt} ms: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        if let Some((_, _, backends, _)) = plans.first()
            && let Some(backend) = backends.get(b)
        {
            let line = format!(
                "{}: {rounds} rounds at each round trip in {:.0} s",
                backend.profile().name,
                began.elapsed().as_secs_f64()
            );
            output::say(&bar, line);
        }
    }
    // Issue 31's rows: overlapping relationships on Neo4j.
    let mut overlap_records = Vec::new();
    if args.runs_overlap() {
        let say = |line: String| output::say(&bar, line);
        for (rtt, _, _, routed) in &plans {
            match overlap::overlap(routed, &endpoints, *rtt, rounds, args.quick, &say) {
                Ok(rows) => overlap_records.extend(rows),
                Err(e) => {
                    bar.abandon();
                    eprintln!("bench: overlapping relationships at rtt {rtt} ms: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    // Issue 17's rows need all four stores.
    let mut read_records = Vec::new();
    if args.runs_reads() {
        let say = |line: String| output::say(&bar, line);
        for (k, (rtt, _, _, routed)) in plans.iter().enumerate() {
            let rows = reads::reads(routed, *rtt, rounds, &say).and_then(|mut rows| {
                if k == 0 {
                    rows.push(reads::ingest(routed, *rtt, rounds, &say)?);
                }
                Ok(rows)
            });
            match rows {
                Ok(rows) => read_records.extend(rows),
                Err(e) => {
                    bar.abandon();
                    eprintln!("bench: reads at rtt {rtt} ms: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let mut records = Vec::new();
    for ((_, relays, backends, _), benches) in plans.into_iter().zip(benches) {
        for (backend, bench) in backends.iter().zip(benches) {
            records.extend(bench.finish(backend.as_ref(), &bar));
        }
        drop(backends);
        drop(relays);
    }
    bar.finish_and_clear();
    let machine = machine();
    print!("{}", output::table(&records));
    println!("{machine}\n");
    print!("{}", output::goals(&records));
    println!();
    print!("{}", output::between_batches(&records));
    if records.iter().any(|r| r.mode.starts_with("durable-")) {
        println!();
        print!("{}", output::durable(&records));
    }
    if !overlap_records.is_empty() {
        println!();
        print!("{}", overlap::table(&overlap_records));
    }
    if !read_records.is_empty() {
        println!();
        print!("{}", reads::table(&read_records));
    }
    if let Err(e) = output::write_all(&out, &records, &machine)
        .and_then(|()| reads::write(&out, &read_records))
        .and_then(|()| overlap::write(&out, &overlap_records))
    {
        eprintln!("bench: cannot write results to {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "results: {}/results.{{json,md}}, {}/throughput.svg",
        out.display(),
        out.display()
    );
    ExitCode::SUCCESS
}

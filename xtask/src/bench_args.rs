//! The command line of `cargo xtask bench`, parsed by the `xtask` binary
//! before it starts anything and again by `uds3-bench`, which it runs
//! (the binary hands its parsed [`BenchArgs`] on as [`BenchArgs::to_args`]).

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser};

/// The backends `--only` can name, in the order they run.
pub const BACKENDS: [&str; 4] = ["chroma", "neo4j", "postgres", "couch"];

/// What `--only` names for the read and document-ingest rows, which use
/// all four stores.
pub const READS: &str = "reads";

/// What `cargo xtask bench` measures (its long help, before the flags).
pub const ABOUT: &str = "\
Benchmarks the library on the four real servers: per-item writes (batch
size 1) against batched ones, 2, 4, 8 and 16 batches in flight and
adaptive concurrency (up to 16) at batch 1000; the library's own statement
or request sent batch by batch without it (raw: the overhead reference,
column `of raw`) and the server's fastest bulk path (ceiling: COPY, one
UNWIND of all rows, one request of all items; column `of ceil`); batch
1000 over TLS against plaintext (column `of plain`); PostgreSQL's
insert-only COPY method (insert-only, against its own COPY sent per batch:
raw-insert-only); one batcher shared by 1 and 4 threads; for PostgreSQL
and CouchDB at rtt 0, the durable buffer under each fsync policy
(durable-always, -every-batch, -100ms, and -always-many: Always with
add_many of 100 items per call) against the same 16 threads in memory
(durable-off), with the median and p99 latency of one add() (of one
add_many() call). Without --only (or with reads in it), at every round
trip, reads of 100 ids (90 stored) from each store one request per id
against its batch reader, and the four batch readers at once
(ParallelBatchReader) against in sequence and against the slowest store
alone; at the first round trip, 1000 whole documents from 4 threads
through DocumentIngest (with verdicts) against the four batchers fed the
same parts. With neo4j, at every round trip, relationships whose endpoints
overlap (100 start nodes, every batch of 100 reaching most of them) with
1, 2, 4, 8 and 16 batches in flight and adaptive: items/s, deadlocks and
retries, lock waits sampled with SHOW TRANSACTIONS, relationships lost or
counted twice (checked on the server). Each backend first gets one untimed
warm-up run; every run checks on the server that every item arrived.
`of raw` and `of plain` are medians of per-round ratios (the two runs sit side
by side in each round; library and raw take turns going first). A backend
runs a round at every round trip before its next round, so that a server's
drift over its minutes falls on every round trip alike.";

/// Where the results go (the long help, after the flags).
pub const OUTPUT: &str = "\
Output: tables on the terminal, and results.json, results.md,
throughput.svg, throughput_rtt.svg (with --rtt), reads.json, reads.md,
overlap.json and overlap.md (with --soak: soak.json, soak.md, soak.svg)
in $CARGO_TARGET_DIR/bench/ if CARGO_TARGET_DIR is set, else in
<workspace>/target/bench/.";

/// The benchmark's options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Args)]
pub struct BenchArgs {
    /// 1 round with fewer items instead of 3 interleaved rounds, without
    /// batch 10, 8 and 16 in flight and shared use from one thread
    /// (faster, noisier)
    #[arg(long)]
    pub quick: bool,
    /// Only these, comma-separated: chroma,neo4j,postgres,couch (their
    /// write rows) and reads (the read and ingest rows); all if not given
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        value_parser = PossibleValuesParser::new(BACKENDS.into_iter().chain([READS]))
    )]
    pub only: Option<Vec<String>>,
    /// Round trips to add between library and servers, in ms,
    /// comma-separated (default 0)
    ///
    /// Each value reruns the per-item, batched and in-flight modes through a
    /// relay on loopback that delays each direction by rtt/2, in byte order
    /// (the kernel here has no netem); per-item counts shrink as the round trip
    /// grows, runs at batch 1000 write a third from 50 ms
    #[arg(long = "rtt", value_name = "LIST", value_delimiter = ',', value_parser = parse_rtt)]
    pub rtt_ms: Option<Vec<u32>>,
    /// Write the results to DIR instead
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only the soak instead: N rows (a whole number, or with a suffix
    /// k, M or G: 2M, 50M; issue 33's run is 50M) to PostgreSQL
    ///
    /// The rows go through one PostgreSQLBatchInserter (batch 1000, 4 in
    /// flight, durable buffer with Fsync::Interval(100ms)) from 8 adding
    /// threads; every 10 s (less for short runs, so that a run has about 50
    /// samples) RSS, items/s, add() p99, pending, the durable segments' count
    /// and bytes and open file descriptors; at the end it counts the rows on
    /// the server and prints a verdict: RSS (its heap, RssAnon; VmRSS also
    /// holds the log's mapped segment) within 10% of its value after the first
    /// minute (short runs: the first tenth), items/s drift <= 5% between the
    /// first and last tenth, 0 lost. Then the same rows go to the server
    /// without the library (4 connections sending its statement), so that
    /// the drift is read beside the server's own. Writes soak.json, soak.md
    /// and soak.svg. Combines with --out and --soak-in-memory only.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_count,
        conflicts_with_all = ["quick", "only", "rtt_ms"]
    )]
    pub soak: Option<u64>,
    /// With --soak: the inserter buffers in memory (no durable log), to
    /// tell the log's share of the soak's figures from the rest
    #[arg(long, requires = "soak")]
    pub soak_in_memory: bool,
}

/// `uds3-bench`'s own command line: the same arguments.
#[derive(Debug, Parser)]
#[command(
    name = "uds3-bench",
    about = "The benchmark `cargo xtask bench` runs (on servers already up)",
    long_about = ABOUT,
    after_long_help = OUTPUT
)]
pub struct BenchCommand {
    /// The benchmark's options.
    #[command(flatten)]
    pub args: BenchArgs,
}

impl BenchArgs {
    /// Whether the read and document-ingest rows run: without `--only`, or
    /// when it names [`READS`].
    pub fn runs_reads(&self) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|n| n == READS))
    }

    /// Whether Neo4j's overlapping-relationship rows run: with Neo4j's
    /// write rows (without `--only`, or when it names `neo4j`).
    pub fn runs_overlap(&self) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|n| n == "neo4j"))
    }

    /// The round trips to run, in ms.
    pub fn rtts(&self) -> Vec<u32> {
        self.rtt_ms.clone().unwrap_or_else(|| vec![0])
    }

    /// The folder the results go to.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(default_out)
    }

    /// The command line that parses back to these options: what `cargo
    /// xtask bench` hands to `uds3-bench`.
    pub fn to_args(&self) -> Vec<String> {
        let joined = |values: &[String]| values.join(",");
        let mut args = Vec::new();
        if self.quick {
            args.push("--quick".to_owned());
        }
        if let Some(only) = &self.only {
            args.extend(["--only".to_owned(), joined(only)]);
        }
        if let Some(rtt) = &self.rtt_ms {
            let rtt: Vec<String> = rtt.iter().map(u32::to_string).collect();
            args.extend(["--rtt".to_owned(), joined(&rtt)]);
        }
        if let Some(out) = &self.out {
            args.extend(["--out".to_owned(), out.display().to_string()]);
        }
        if let Some(rows) = self.soak {
            args.extend(["--soak".to_owned(), rows.to_string()]);
        }
        if self.soak_in_memory {
            args.push("--soak-in-memory".to_owned());
        }
        args
    }
}

/// The largest `--rtt` value, in ms.
pub const MAX_RTT_MS: u32 = 1000;

/// One `--rtt` value: whole milliseconds from 0 to [`MAX_RTT_MS`].
fn parse_rtt(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|ms| *ms <= MAX_RTT_MS)
        .ok_or_else(|| format!("{text:?} is not a whole number of ms from 0 to {MAX_RTT_MS}"))
}

/// The most rows `--soak` takes (10^12: a `u64` count of rows whose ids
/// and a run's counters keep far from overflow).
pub const MAX_SOAK: u64 = 1_000_000_000_000;

/// A count of rows: a whole number from 1 to [`MAX_SOAK`], optionally
/// with a suffix `k` (thousand), `M` (million) or `G` (billion), e.g.
/// `2000000`, `2M`, `50M`, `500k`. Underscores between digits are allowed
/// (`50_000_000`). The error names the value.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("{text:?} is not a number of rows from 1 to {MAX_SOAK} (e.g. 2000000, 2M, 500k)")
    };
    let (digits, scale) = match text.char_indices().last() {
        Some((i, 'k' | 'K')) => (&text[..i], 1_000),
        Some((i, 'm' | 'M')) => (&text[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&text[..i], 1_000_000_000),
        _ => (text, 1),
    };
    let digits = digits.replace('_', "");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| (1..=MAX_SOAK).contains(n))
        .ok_or_else(bad)
}

/// `$CARGO_TARGET_DIR/bench` if that variable is set, else the
/// workspace's `target/bench`.
pub fn default_out() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(target) => PathBuf::from(target).join("bench"),
        None => crate::workspace_root().join("target").join("bench"),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<BenchArgs, String> {
        BenchCommand::try_parse_from(std::iter::once("uds3-bench").chain(args.iter().copied()))
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_command_line_is_consistent_and_its_help_renders() {
        BenchCommand::command().debug_assert();
        let help = BenchCommand::command().render_long_help().to_string();
        for named in [
            "--quick",
            "--only",
            "--rtt",
            "--out",
            "--soak",
            "of raw",
            "results.json",
        ] {
            assert!(help.contains(named), "{named:?} missing from\n{help}");
        }
    }

    /// CouchDB is `couch` here as in the feature, the service and the
    /// metrics' `backend` label; the old `couchdb` is refused by name.
    #[test]
    fn couchdb_is_spelled_couch() {
        assert!(parse(&["--only", "couch"]).is_ok());
        let refused = parse(&["--only", "couchdb"]).expect_err("one spelling");
        assert!(
            refused.contains("couchdb") && refused.contains("couch, reads"),
            "{refused}"
        );
    }

    #[test]
    fn flags() {
        assert_eq!(parse(&[]), Ok(BenchArgs::default()));
        assert_eq!(
            parse(&["--quick", "--only", "postgres,neo4j", "--out", "/tmp/b"]),
            Ok(BenchArgs {
                quick: true,
                only: Some(vec!["postgres".into(), "neo4j".into()]),
                out: Some(PathBuf::from("/tmp/b")),
                rtt_ms: None,
                soak: None,
                soak_in_memory: false,
            })
        );
        let with_rtt = parse(&["--rtt", "0,10,50"]).expect("--rtt parses");
        assert_eq!(with_rtt.rtts(), vec![0, 10, 50]);
        assert_eq!(BenchArgs::default().rtts(), vec![0]);
        let reads_only = parse(&["--only", "reads"]).expect("--only reads parses");
        assert!(reads_only.runs_reads());
        assert!(BenchArgs::default().runs_reads());
        let writes_only = parse(&["--only", "postgres"]).expect("--only postgres parses");
        assert!(!writes_only.runs_reads());
        assert!(!writes_only.runs_overlap() && !reads_only.runs_overlap());
        assert!(BenchArgs::default().runs_overlap());
        let neo4j = parse(&["--only", "neo4j"]).expect("--only neo4j parses");
        assert!(neo4j.runs_overlap());
    }

    /// What `cargo xtask bench` hands on parses back to what it parsed.
    #[test]
    fn the_arguments_handed_on_parse_back() {
        for args in [
            &[][..],
            &[
                "--quick",
                "--only",
                "postgres,reads",
                "--rtt",
                "0,10",
                "--out",
                "/tmp/b",
            ],
            &["--soak", "2M", "--out", "/tmp/s"],
            &["--soak", "2M", "--soak-in-memory"],
        ] {
            let parsed = parse(args).expect("parses");
            let handed: Vec<String> = parsed.to_args();
            let handed: Vec<&str> = handed.iter().map(String::as_str).collect();
            assert_eq!(parse(&handed), Ok(parsed), "{args:?} -> {handed:?}");
        }
    }

    #[test]
    fn soak_takes_a_count_with_an_optional_suffix() {
        let soak = |args: &[&str]| parse(args).expect("parses").soak;
        assert_eq!(soak(&[]), None);
        assert_eq!(soak(&["--soak", "2000000"]), Some(2_000_000));
        assert_eq!(soak(&["--soak", "2M"]), Some(2_000_000));
        assert_eq!(soak(&["--soak", "50M"]), Some(50_000_000));
        assert_eq!(soak(&["--soak", "50_000_000"]), Some(50_000_000));
        assert_eq!(soak(&["--soak", "500k"]), Some(500_000));
        assert_eq!(soak(&["--soak", "1G"]), Some(1_000_000_000));
        assert_eq!(soak(&["--soak", "1"]), Some(1));
        assert_eq!(
            parse(&["--soak", "1M", "--out", "/tmp/s"]),
            Ok(BenchArgs {
                out: Some(PathBuf::from("/tmp/s")),
                soak: Some(1_000_000),
                ..BenchArgs::default()
            })
        );
    }

    #[test]
    fn errors_name_the_argument() {
        for (args, named) in [
            (&["--bogus"][..], "--bogus"),
            (&["quick"][..], "quick"),
            (&["--only", "postgres,mongo"][..], "mongo"),
            (&["--only", "read"][..], "read"),
            (&["--only"][..], "--only"),
            (&["--out"][..], "--out"),
            (&["--rtt"][..], "--rtt"),
            (&["--rtt", "0,ten"][..], "ten"),
            (&["--rtt", "5000"][..], "5000"),
            (&["--soak"][..], "--soak"),
            (&["--soak", "lots"][..], "lots"),
            (&["--soak", "0"][..], "\"0\""),
            (&["--soak", "-5"][..], "-5"),
            (&["--soak", "2.5M"][..], "2.5M"),
            (&["--soak", "M"][..], "\"M\""),
            (
                &["--soak", "99999999999999999999"][..],
                "99999999999999999999",
            ),
            (&["--soak", "2000G"][..], "2000G"),
            (&["--soak", "1M", "--quick"][..], "--quick"),
            (&["--only", "postgres", "--soak", "1M"][..], "--only"),
            (&["--soak", "1M", "--rtt", "10"][..], "--rtt"),
        ] {
            let err = parse(args).expect_err("an error");
            assert!(err.contains(named), "{err:?} does not name {named}");
        }
    }
}

//! Writes the results: a terminal table, `results.json`, `results.md`,
//! `throughput.svg` (items/s against batch size, per backend) and, with
//! several round trips, `throughput_rtt.svg` (items/s against round trip);
//! and, while the benchmark runs, its progress bar and the lines above it.
//! [`Record`] is one result line.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

/// A result line: also the shape of `results.json` records.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Record {
    pub backend: String,
    pub mode: String,
    /// Round trip added between library and server, ms.
    pub rtt_ms: u32,
    pub batch_size: usize,
    /// Batches in flight at once.
    pub in_flight: usize,
    pub threads: usize,
    pub items: usize,
    pub seconds: f64,
    pub items_per_s: f64,
    pub requests: u64,
    pub speedup: Option<f64>,
    /// Items/s over the same statement sent raw at the same batch size.
    pub fraction_of_raw: Option<f64>,
    /// Items/s over the server's fastest bulk path.
    pub fraction_of_ceiling: Option<f64>,
    /// TLS rows only: items/s over TLS / items/s of plaintext `batched` at
    /// the same batch size, in the same run.
    pub fraction_of_plaintext: Option<f64>,
    /// Adaptive rows only: items/s over the best fixed in-flight setting at
    /// the same batch size (the one with the highest median), the median
    /// of the two runs' ratios round by round. Against the best of several
    /// medians taken alone, every noisy setting's luckiest figure, adaptive
    /// would be read low.
    pub fraction_of_best_fixed: Option<f64>,
    /// Durable-buffer rows only: items/s over `durable-off` (the same
    /// threads and timing without the buffer), the median of the two
    /// runs' ratios round by round.
    pub fraction_of_in_memory: Option<f64>,
    /// Durable-buffer rows only: the median, over rounds, of each run's
    /// median `add` latency, in microseconds.
    pub add_median_us: Option<f64>,
    /// Durable-buffer rows only: the median, over rounds, of each run's
    /// 99th-percentile `add` latency, in microseconds.
    pub add_p99_us: Option<f64>,
    /// Library rows: the median over rounds of each run's median and
    /// 99th-percentile hand-off between batches, in microseconds, and of
    /// its sum as a share of the run.
    pub handoff_p50_us: Option<f64>,
    pub handoff_p99_us: Option<f64>,
    pub handoff_share: Option<f64>,
    pub claimed_speedup: String,
    pub rounds: usize,
}

/// Prints `line` above the progress bar, or to stderr when the bar is
/// hidden (no terminal).
pub fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// The progress bar of `total` runs.
pub fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// A progress bar over `rows` rows with their rate.
pub fn rows_progress(rows: u64) -> ProgressBar {
    let bar = ProgressBar::new(rows);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} rows  {per_sec}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// A fraction as a whole percentage, `-` for none.
fn percent(f: Option<f64>) -> String {
    f.map_or("-".to_owned(), |f| format!("{:.0}%", f * 100.0))
}

/// The fastest library run (batched or adaptive) of `backend` at `rtt`.
fn best_library<'a>(records: &'a [Record], backend: &str, rtt: u32) -> Option<&'a Record> {
    records
        .iter()
        .filter(|r| {
            r.backend == backend
                && r.rtt_ms == rtt
                && matches!(r.mode.as_str(), "batched" | "adaptive")
        })
        .max_by(|a, b| a.items_per_s.total_cmp(&b.items_per_s))
}

/// A record as the 15 text cells both tables show.
fn cells(r: &Record) -> [String; 15] {
    [
        r.backend.clone(),
        r.mode.clone(),
        r.rtt_ms.to_string(),
        if r.batch_size == 0 {
            "all".to_owned()
        } else {
            r.batch_size.to_string()
        },
        r.in_flight.to_string(),
        r.threads.to_string(),
        r.items.to_string(),
        format!("{:.2}", r.seconds),
        format!("{:.0}", r.items_per_s),
        r.requests.to_string(),
        r.speedup.map_or("-".to_owned(), |s| format!("{s:.1}x")),
        percent(r.fraction_of_raw),
        percent(r.fraction_of_ceiling),
        percent(r.fraction_of_plaintext),
        r.claimed_speedup.clone(),
    ]
}

/// Column widths of the terminal table; text columns are left-aligned.
const WIDTHS: [usize; 15] = [9, 19, 4, 6, 3, 3, 7, 8, 10, 8, 9, 7, 7, 8, 9];

pub fn table(records: &[Record]) -> String {
    let header = [
        "backend", "mode", "rtt", "batch", "fly", "thr", "items", "seconds", "items/s", "requests",
        "speedup", "of raw", "of ceil", "of plain", "claimed",
    ]
    .map(str::to_owned);
    let mut out = String::new();
    for row in std::iter::once(header).chain(records.iter().map(cells)) {
        let line: Vec<String> = row
            .iter()
            .zip(WIDTHS)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i < 2 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join(" "));
    }
    out
}

pub fn markdown(records: &[Record], machine: &str) -> String {
    let mut out = String::from("# uds3-batch benchmark results\n\n");
    let _ = writeln!(out, "{machine}\n");
    out.push_str("## Goals\n\n");
    out.push_str(&goals(records));
    out.push_str("\n## Between batches\n\n");
    out.push_str(&between_batches(records));
    out.push_str("\n## Durable buffer\n\n");
    out.push_str(&durable(records));
    out.push_str("\n## Every run\n\n");
    out.push_str("| backend | mode | rtt ms | batch | in flight | threads | items | seconds | items/s | requests | speedup vs per-item | of raw (same statement) | of ceiling | TLS of plaintext | UDS3 v2.2 claim |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in records {
        let _ = writeln!(out, "| {} |", cells(r).join(" | "));
    }
    out
}

/// The goals of the bench, one row per backend and round trip, read
/// from the records of one run: the best library mode and its speedup
/// over per-item next to UDS3 v2.2's claim and the ceiling's, that best
/// against the best without added round trip, the library against its
/// own statement sent raw (batch 100 and 1000), 2 in flight against 1,
/// and adaptive against the best fixed setting.
pub fn goals(records: &[Record]) -> String {
    let times = |f: Option<f64>| f.map_or("-".to_owned(), |f| format!("{f:.0}x"));
    let mut out = String::from(
        "| backend | rtt ms | per-item items/s | best library items/s (mode) | speedup | UDS3 v2.2 claim | ceiling / per-item | of loopback best | library / same-statement raw, batch 100 / 1000 | 2 in flight / 1, batch 1000 | adaptive / best fixed |\n\
         |---|---:|---:|---|---:|---|---:|---:|---|---:|---:|\n",
    );
    let find = |backend: &str, rtt: u32, mode: &str, batch: usize, in_flight: usize| {
        records.iter().find(|r| {
            r.backend == backend
                && r.rtt_ms == rtt
                && r.mode == mode
                && (mode == "per-item" || mode == "ceiling" || r.batch_size == batch)
                && r.in_flight == in_flight
                && r.threads == 1
        })
    };
    let loopback = records.iter().map(|r| r.rtt_ms).min().unwrap_or(0);
    for name in backends(&records.iter().collect::<Vec<_>>()) {
        let mut rtts: Vec<u32> = records
            .iter()
            .filter(|r| r.backend == name)
            .map(|r| r.rtt_ms)
            .collect();
        rtts.dedup();
        for rtt in rtts {
            let Some(top) = best_library(records, name, rtt) else {
                continue;
            };
            let per_item = find(name, rtt, "per-item", 1, 1).map(|r| r.items_per_s);
            let ceiling = find(name, rtt, "ceiling", 0, 1).map(|r| r.items_per_s);
            let of_loopback =
                best_library(records, name, loopback).map(|l| top.items_per_s / l.items_per_s);
            let raw = |batch| {
                percent(find(name, rtt, "batched", batch, 1).and_then(|r| r.fraction_of_raw))
            };
            let at = |in_flight| find(name, rtt, "batched", 1000, in_flight).map(|r| r.items_per_s);
            let two_over_one = at(2).zip(at(1)).map(|(two, one)| two / one);
            let adaptive = records
                .iter()
                .find(|r| r.backend == name && r.rtt_ms == rtt && r.mode == "adaptive")
                .and_then(|r| r.fraction_of_best_fixed);
            let _ = writeln!(
                out,
                "| {name} | {rtt} | {} | {:.0} ({} b{} x{}) | {} | {} | {} | {} | {} / {} | {} | {} |",
                per_item.map_or("-".to_owned(), |p| format!("{p:.0}")),
                top.items_per_s,
                top.mode,
                top.batch_size,
                top.in_flight,
                times(per_item.map(|p| top.items_per_s / p)),
                top.claimed_speedup,
                times(ceiling.zip(per_item).map(|(c, p)| c / p)),
                percent(of_loopback),
                raw(100),
                raw(1000),
                two_over_one.map_or("-".to_owned(), |f| format!("{f:.2}")),
                percent(adaptive),
            );
        }
    }
    out
}

/// The durable buffer's rows, one per backend and fsync policy: items/s
/// against the same threads without the buffer (`durable-off`, round by
/// round), the `add` latency, and the goals (`Interval(100ms)` at least
/// 90%, `Always` at least 50%).
pub fn durable(records: &[Record]) -> String {
    let us = |f: Option<f64>| f.map_or("-".to_owned(), |f| format!("{f:.1}"));
    let mut out = String::from(
        "| backend | fsync | threads | items/s | of in-memory | add median us | add p99 us | goal |\n\
         |---|---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in records.iter().filter(|r| r.mode.starts_with("durable-")) {
        let (fsync, goal) = match r.mode.as_str() {
            "durable-off" => ("none (in memory)", None),
            "durable-always" => ("Always", Some(0.5)),
            "durable-always-many" => ("Always, add_many of 100", Some(0.5)),
            "durable-every-batch" => ("EveryBatch", None),
            "durable-100ms" => ("Interval(100ms)", Some(0.95)),
            other => (other, None),
        };
        let goal = match (goal, r.fraction_of_in_memory) {
            (Some(g), Some(f)) => format!(
                ">= {:.0}%: {}",
                g * 100.0,
                if f >= g { "met" } else { "not met" }
            ),
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {fsync} | {} | {:.0} | {} | {} | {} | {goal} |",
            r.backend,
            r.threads,
            r.items_per_s,
            percent(r.fraction_of_in_memory),
            us(r.add_median_us),
            us(r.add_p99_us),
        );
    }
    out
}

/// The library's own time between batches (`batch_core::Timings`'s
/// hand-off: a batch and its writer both ready, no request yet) for the
/// modes that send one batch after another, with the library against
/// its own statement raw beside it.
pub fn between_batches(records: &[Record]) -> String {
    let us = |f: Option<f64>| f.map_or("-".to_owned(), |f| format!("{f:.0}"));
    let mut out = String::from(
        "| backend | rtt ms | mode | batch | in flight | hand-off median us | hand-off p99 us | hand-off of run | of raw |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let shown = |r: &&Record| {
        r.handoff_share.is_some()
            && r.threads == 1
            && matches!(r.mode.as_str(), "batched" | "adaptive")
            && matches!(
                (r.batch_size, r.in_flight),
                (100 | 1000, 1) | (1000, 4) | (1000, 16)
            )
    };
    for r in records.iter().filter(shown) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.backend,
            r.rtt_ms,
            r.mode,
            r.batch_size,
            r.in_flight,
            us(r.handoff_p50_us),
            us(r.handoff_p99_us),
            r.handoff_share
                .map_or("-".to_owned(), |s| format!("{:.2}%", s * 100.0)),
            percent(r.fraction_of_raw),
        );
    }
    out
}

/// One line in a chart (a backend's, or the soak's): its (x, y) points,
/// and a dashed reference: a polyline of points, or one level across the
/// chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
    pub dashed: Vec<(f64, f64)>,
    pub level: Option<f64>,
}

/// The x axis: where a value goes (0 to 1 across the plot) and its ticks.
pub struct Axis {
    pub place: Box<dyn Fn(f64) -> f64>,
    pub ticks: Vec<(f64, String)>,
    pub label: &'static str,
}

/// The y axis: logarithmic (rates that span decades) or linear from 0 (a
/// level whose drift of a few percent should show), and its label.
pub struct YAxis {
    pub log: bool,
    pub label: &'static str,
}

/// The bench's throughput axis: items/s, logarithmic.
const ITEMS_PER_S_LOG: YAxis = YAxis {
    log: true,
    label: "items/s",
};

/// A round step (1, 2 or 5 times a power of ten) of at least `raw`, for
/// ticks on a linear axis.
pub fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * magnitude
}

/// Log-log chart of items/s against batch size, one line per backend
/// (without added round trip, one batch in flight), with each backend's
/// ceiling (the server's fastest bulk path) as a dashed level.
pub fn svg(records: &[Record]) -> String {
    let first_rtt = records.first().map_or(0, |f| f.rtt_ms);
    let records: Vec<&Record> = records
        .iter()
        .filter(|r| r.rtt_ms == first_rtt && r.in_flight == 1)
        .collect();
    let lines: Vec<Series<'_>> = backends(&records)
        .into_iter()
        .map(|name| Series {
            name,
            points: records
                .iter()
                .filter(|r| r.backend == name && (r.mode == "per-item" || r.mode == "batched"))
                .map(|r| (r.batch_size as f64, r.items_per_s))
                .collect(),
            dashed: Vec::new(),
            level: records
                .iter()
                .find(|r| r.backend == name && r.mode == "ceiling")
                .map(|r| r.items_per_s),
        })
        .collect();
    let decades = 4.0_f64.max(
        records
            .iter()
            .map(|r| (r.batch_size.max(1) as f64).log10())
            .fold(0.0, f64::max)
            .ceil(),
    );
    let axis = Axis {
        place: Box::new(move |v| v.max(1.0).log10() / decades),
        ticks: (0..=decades as u32)
            .map(|e| (10f64.powi(e as i32), 10u64.pow(e).to_string()))
            .collect(),
        label: "batch size (items per request)",
    };
    draw(
        "uds3-batch: items/s against batch size (log-log; dashed: the server's ceiling)",
        &axis,
        &ITEMS_PER_S_LOG,
        &lines,
    )
}

/// Items/s against the added round trip, one line per backend: the best
/// library mode at each round trip (batched, in flight, adaptive), dashed:
/// per-item. `None` when the run had one round trip only.
pub fn svg_rtt(records: &[Record]) -> Option<String> {
    let mut rtts: Vec<u32> = records.iter().map(|r| r.rtt_ms).collect();
    rtts.sort_unstable();
    rtts.dedup();
    if rtts.len() < 2 {
        return None;
    }
    let refs: Vec<&Record> = records.iter().collect();
    let lines: Vec<Series<'_>> = backends(&refs)
        .into_iter()
        .map(|name| {
            let at = |rtt: u32, library: bool| {
                let run = if library {
                    best_library(records, name, rtt)
                } else {
                    records
                        .iter()
                        .find(|r| r.backend == name && r.rtt_ms == rtt && r.mode == "per-item")
                };
                run.map(|r| (f64::from(rtt), r.items_per_s))
            };
            Series {
                name,
                points: rtts.iter().filter_map(|&t| at(t, true)).collect(),
                dashed: rtts.iter().filter_map(|&t| at(t, false)).collect(),
                level: None,
            }
        })
        .collect();
    // Round trips are few and uneven (0, 1, 10, 50): evenly spaced ticks.
    let places: Vec<f64> = rtts.iter().map(|&t| f64::from(t)).collect();
    let last = (places.len() - 1) as f64;
    let axis = Axis {
        place: Box::new(move |v| {
            places
                .iter()
                .position(|p| *p == v)
                .map_or(0.0, |i| i as f64 / last)
        }),
        ticks: rtts
            .iter()
            .map(|&t| (f64::from(t), t.to_string()))
            .collect(),
        label: "round trip added (ms)",
    };
    Some(draw(
        "uds3-batch: items/s against round trip (best library mode; dashed: per-item)",
        &axis,
        &ITEMS_PER_S_LOG,
        &lines,
    ))
}

/// The backends in the order they appear.
fn backends<'a>(records: &[&'a Record]) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for r in records {
        if !names.contains(&r.backend.as_str()) {
            names.push(&r.backend);
        }
    }
    names
}

/// A chart with the given axes and a legend.
pub fn draw(title: &str, axis: &Axis, y_axis: &YAxis, lines: &[Series<'_>]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const L: f64 = 70.0;
    const R: f64 = 150.0;
    const T: f64 = 30.0;
    const B: f64 = 50.0;
    const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    let ys: Vec<f64> = lines
        .iter()
        .flat_map(|l| {
            l.points
                .iter()
                .chain(&l.dashed)
                .map(|(_, y)| *y)
                .chain(l.level)
        })
        .filter(|y| *y > 0.0)
        .collect();
    let (ymin, ymax) = (
        ys.iter().copied().fold(f64::INFINITY, f64::min).max(1.0),
        ys.iter().copied().fold(1.0, f64::max),
    );
    // The plotted range, in axis units (log10 of the value on a log
    // axis), and the horizontal grid lines.
    let log = y_axis.log;
    let (y0, y1, grid): (f64, f64, Vec<(f64, String)>) = if log {
        let (ly0, ly1) = (
            ymin.log10().floor(),
            ymax.log10().ceil().max(ymin.log10().floor() + 1.0),
        );
        let grid = ((ly0 as i32)..=(ly1 as i32))
            .map(|e| (10f64.powi(e), 10u64.pow(e.max(0) as u32).to_string()))
            .collect();
        (ly0, ly1, grid)
    } else {
        let step = nice_step(ymax / 5.0);
        let top = (ymax / step).ceil().max(1.0) * step;
        let grid = (0..=(top / step).round() as u32)
            .map(|k| {
                let v = f64::from(k) * step;
                (v, format!("{v}"))
            })
            .collect();
        (0.0, top, grid)
    };
    let x = |v: f64| L + (axis.place)(v) * (W - L - R);
    let y = |v: f64| {
        let u = if log { v.max(1.0).log10() } else { v };
        H - B - (u - y0) / (y1 - y0) * (H - T - B)
    };
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="white"/>
<text x="{}" y="18" text-anchor="middle" font-size="14">{title}</text>
"#,
        (W - R + L) / 2.0
    );
    for (value, label) in &axis.ticks {
        let xv = x(*value);
        let _ = writeln!(
            s,
            r##"<line x1="{xv}" y1="{T}" x2="{xv}" y2="{}" stroke="#ddd"/><text x="{xv}" y="{}" text-anchor="middle">{label}</text>"##,
            H - B,
            H - B + 16.0,
        );
    }
    for (value, label) in &grid {
        let yv = y(*value);
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{yv}" x2="{}" y2="{yv}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{label}</text>"##,
            W - R,
            L - 6.0,
            yv + 4.0,
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (W - R + L) / 2.0,
        H - 10.0,
        axis.label
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">{}</text>"#,
        H / 2.0,
        H / 2.0,
        y_axis.label
    );
    let polyline = |points: &[(f64, f64)]| -> String {
        points
            .iter()
            .map(|(bx, by)| format!("{:.1},{:.1}", x(*bx), y(*by)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (i, series) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            polyline(&series.points)
        );
        for (bx, by) in &series.points {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x(*bx),
                y(*by)
            );
        }
        if !series.dashed.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-dasharray="5,4" points="{}"/>"#,
                polyline(&series.dashed)
            );
        }
        if let Some(r) = series.level {
            let _ = writeln!(
                s,
                r#"<line x1="{L}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="{color}" stroke-dasharray="5,4"/>"#,
                y(r),
                W - R,
                y(r)
            );
        }
        let ly = T + 20.0 + i as f64 * 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            W - R + 10.0,
            W - R + 30.0,
            W - R + 36.0,
            ly + 4.0,
            series.name
        );
    }
    s.push_str("</svg>\n");
    s
}

pub fn write_all(dir: &Path, records: &[Record], machine: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(records).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("results.json"), json)?;
    std::fs::write(dir.join("results.md"), markdown(records, machine))?;
    std::fs::write(dir.join("throughput.svg"), svg(records))?;
    if let Some(chart) = svg_rtt(records) {
        std::fs::write(dir.join("throughput_rtt.svg"), chart)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(mode: &str, rtt_ms: u32, batch_size: usize, in_flight: usize, rate: f64) -> Record {
        Record {
            backend: "postgres".to_owned(),
            mode: mode.to_owned(),
            rtt_ms,
            batch_size,
            in_flight,
            threads: 1,
            items: 1000,
            seconds: 1000.0 / rate,
            items_per_s: rate,
            requests: 1,
            speedup: None,
            fraction_of_raw: (mode == "batched" && in_flight == 1).then_some(0.98),
            fraction_of_ceiling: None,
            fraction_of_plaintext: None,
            fraction_of_best_fixed: (mode == "adaptive").then_some(0.96),
            fraction_of_in_memory: None,
            add_median_us: None,
            add_p99_us: None,
            handoff_p50_us: None,
            handoff_p99_us: None,
            handoff_share: None,
            claimed_speedup: "50-100x".to_owned(),
            rounds: 3,
        }
    }

    #[test]
    fn goals_read_each_round_trip_against_per_item_and_loopback() {
        let records = [
            record("per-item", 0, 1, 1, 1000.0),
            record("batched", 0, 100, 1, 30000.0),
            record("batched", 0, 1000, 1, 50000.0),
            record("batched", 0, 1000, 2, 90000.0),
            record("adaptive", 0, 1000, 8, 100000.0),
            record("ceiling", 0, 0, 1, 150000.0),
            record("per-item", 10, 1, 1, 80.0),
            record("batched", 10, 1000, 1, 30000.0),
            record("batched", 10, 1000, 2, 60000.0),
            record("batched", 10, 1000, 8, 90000.0),
            record("adaptive", 10, 1000, 8, 88000.0),
        ];
        let table = goals(&records);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| postgres | 0 | 1000 | 100000 (adaptive b1000 x8) | 100x | 50-100x | 150x | 100% | 98% / 98% | 1.80 | 96% |",
                "| postgres | 10 | 80 | 90000 (batched b1000 x8) | 1125x | 50-100x | - | 90% | - / 98% | 2.00 | 96% |",
            ],
            "{table}"
        );
    }

    #[test]
    fn linear_axes_step_by_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(13.0), 20.0);
        assert_eq!(nice_step(31_000.0), 50_000.0);
        assert_eq!(nice_step(70.0), 100.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn durable_rows_are_read_against_their_goals() {
        let row = |mode: &str, of: Option<f64>| Record {
            mode: mode.to_owned(),
            threads: 16,
            fraction_of_in_memory: of,
            add_median_us: Some(1.25),
            add_p99_us: Some(40.0),
            ..record(mode, 0, 1000, 2, 100_000.0)
        };
        let records = [
            record("batched", 0, 1000, 1, 50000.0),
            row("durable-off", None),
            row("durable-always", Some(0.49)),
            row("durable-always-many", Some(0.5)),
            row("durable-every-batch", Some(0.8)),
            row("durable-100ms", Some(0.9)),
        ];
        let table = durable(&records);
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| postgres | none (in memory) | 16 | 100000 | - | 1.2 | 40.0 | - |",
                "| postgres | Always | 16 | 100000 | 49% | 1.2 | 40.0 | >= 50%: not met |",
                "| postgres | Always, add_many of 100 | 16 | 100000 | 50% | 1.2 | 40.0 | >= 50%: met |",
                "| postgres | EveryBatch | 16 | 100000 | 80% | 1.2 | 40.0 | - |",
                "| postgres | Interval(100ms) | 16 | 100000 | 90% | 1.2 | 40.0 | >= 95%: not met |",
            ],
            "{table}"
        );
    }
}

//! Writes the results: a terminal table, `results.json`, `results.md` and
//! `throughput.svg` (items/s against batch size, per backend).

use std::fmt::Write as _;
use std::path::Path;

use crate::runner::Record;

/// A record as the 14 text cells both tables show.
fn cells(r: &Record) -> [String; 14] {
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
        r.fraction_of_raw
            .map_or("-".to_owned(), |f| format!("{:.0}%", f * 100.0)),
        r.fraction_of_plaintext
            .map_or("-".to_owned(), |f| format!("{:.0}%", f * 100.0)),
        r.claimed_speedup.clone(),
    ]
}

/// Column widths of the terminal table; text columns are left-aligned.
const WIDTHS: [usize; 14] = [9, 11, 4, 6, 3, 3, 7, 8, 10, 8, 9, 8, 8, 9];

pub fn table(records: &[Record]) -> String {
    let header = [
        "backend", "mode", "rtt", "batch", "fly", "thr", "items", "seconds", "items/s", "requests",
        "speedup", "of raw", "of plain", "claimed",
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
    out.push_str("| backend | mode | rtt ms | batch | in flight | threads | items | seconds | items/s | requests | speedup vs per-item | of raw | TLS of plaintext | UDS3 v2.2 claim |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for r in records {
        let _ = writeln!(out, "| {} |", cells(r).join(" | "));
    }
    out
}

/// One backend's line in the chart: (batch size, items/s) points and its
/// raw bulk rate.
struct Series<'a> {
    name: &'a str,
    points: Vec<(f64, f64)>,
    raw: Option<f64>,
}

/// Log-log chart of items/s against batch size, one line per backend,
/// with each backend's raw bulk rate as a dashed line.
pub fn svg(records: &[Record]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const L: f64 = 70.0;
    const R: f64 = 150.0;
    const T: f64 = 30.0;
    const B: f64 = 50.0;
    const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
    // The chart is items/s against batch size, without added round trip,
    // one batch in flight.
    let records: Vec<&Record> = records
        .iter()
        .filter(|r| r.rtt_ms == records.first().map_or(0, |f| f.rtt_ms) && r.in_flight == 1)
        .collect();
    let lines: Vec<Series<'_>> = {
        let mut names: Vec<&str> = records.iter().map(|r| r.backend.as_str()).collect();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let points = records
                    .iter()
                    .filter(|r| r.backend == name && (r.mode == "per-item" || r.mode == "batched"))
                    .map(|r| (r.batch_size as f64, r.items_per_s))
                    .collect();
                let raw = records
                    .iter()
                    .find(|r| r.backend == name && r.mode == "raw")
                    .map(|r| r.items_per_s);
                Series { name, points, raw }
            })
            .collect()
    };
    let ys: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|(_, y)| *y).chain(l.raw))
        .filter(|y| *y > 0.0)
        .collect();
    let (ymin, ymax) = (
        ys.iter().copied().fold(f64::INFINITY, f64::min).max(1.0),
        ys.iter().copied().fold(1.0, f64::max),
    );
    let (ly0, ly1) = (
        ymin.log10().floor(),
        ymax.log10().ceil().max(ymin.log10().floor() + 1.0),
    );
    let (lx0, lx1) = (
        0.0,
        4.0_f64.max(
            records
                .iter()
                .map(|r| (r.batch_size.max(1) as f64).log10())
                .fold(0.0, f64::max)
                .ceil(),
        ),
    );
    let x = |v: f64| L + (v.max(1.0).log10() - lx0) / (lx1 - lx0) * (W - L - R);
    let y = |v: f64| H - B - (v.max(1.0).log10() - ly0) / (ly1 - ly0) * (H - T - B);
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="white"/>
<text x="{}" y="18" text-anchor="middle" font-size="14">uds3-batch: items/s against batch size (log-log; dashed: raw bulk path)</text>
"#,
        (W - R + L) / 2.0
    );
    for e in (lx0 as i32)..=(lx1 as i32) {
        let xv = x(10f64.powi(e));
        let _ = writeln!(
            s,
            r##"<line x1="{xv}" y1="{T}" x2="{xv}" y2="{}" stroke="#ddd"/><text x="{xv}" y="{}" text-anchor="middle">{}</text>"##,
            H - B,
            H - B + 16.0,
            10u64.pow(e as u32)
        );
    }
    for e in (ly0 as i32)..=(ly1 as i32) {
        let yv = y(10f64.powi(e));
        let _ = writeln!(
            s,
            r##"<line x1="{L}" y1="{yv}" x2="{}" y2="{yv}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            W - R,
            L - 6.0,
            yv + 4.0,
            10u64.pow(e as u32)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">batch size (items per request)</text>"#,
        (W - R + L) / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">items/s</text>"#,
        H / 2.0,
        H / 2.0
    );
    for (i, Series { name, points, raw }) in lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|(bx, by)| format!("{:.1},{:.1}", x(*bx), y(*by)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for (bx, by) in points {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x(*bx),
                y(*by)
            );
        }
        if let Some(r) = raw {
            let _ = writeln!(
                s,
                r#"<line x1="{L}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="{color}" stroke-dasharray="5,4"/>"#,
                y(*r),
                W - R,
                y(*r)
            );
        }
        let ly = T + 20.0 + i as f64 * 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{name}</text>"#,
            W - R + 10.0,
            W - R + 30.0,
            W - R + 36.0,
            ly + 4.0
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
    Ok(())
}

//! The soak's server reference: the same rows written without the
//! library, so that the soak's drift in rows/s can be read apart from the
//! server's own. A table and its primary-key index that grow to tens of
//! millions of rows slow every writer down; what the library adds to that
//! drift is its rate's drift beside this one's.
//!
//! As many connections as the soak has batches in flight each take the
//! next batch of the soak's size in turn and send it with
//! the library's own UNNEST upsert (prepared once per connection), with
//! no buffer, no durable log and no batcher. Sampled at the soak's
//! interval; every row is counted on the server at the end.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use batch_postgres::{Connector, DocumentRow, TableName, WriteMethod};
use indicatif::ProgressBar;

use crate::drive::CountDown;
use crate::output::{rows_progress, say};
use crate::postgres;
use crate::soak_sample::Sample;
use crate::soak_table::{DropTable, count_rows, execute};

/// Writes rows `0..rows` (the soak's rows) to a fresh table of their own,
/// `batch_size` at a time over `connections` connections, and returns one
/// sample per `every`, with `written`, `interval_s`,
/// `elapsed_s` and `items_per_s` set. `Err` if a batch fails or a row is
/// missing on the server at the end.
pub fn server_reference(
    connector: &Connector,
    rows: u64,
    batch_size: usize,
    connections: usize,
    every: Duration,
) -> Result<Vec<Sample>, String> {
    let table = TableName::new(format!("soak_reference_{}", std::process::id()))
        .map_err(|e| e.to_string())?;
    execute(connector, &batch_postgres::create_documents_table(&table))?;
    let _drop = DropTable {
        connector: connector.clone(),
        table: table.clone(),
    };
    let sql = postgres::statement_sql(connector, &table, WriteMethod::Unnest)?;
    let bar = rows_progress(rows);
    say(
        &bar,
        format!(
            "soak reference: the same {rows} rows to {} without the library ({connections} connections, batch {batch_size}, the library's UNNEST upsert)",
            table.quoted()
        ),
    );
    let batches = rows.div_ceil(batch_size as u64);
    let next = AtomicU64::new(0);
    let written = AtomicU64::new(0);
    let running = AtomicUsize::new(connections);
    let started = Instant::now();
    let samples = std::thread::scope(|scope| -> Result<Vec<Sample>, String> {
        let senders: Vec<_> = (0..connections)
            .map(|_| {
                let (sql, next, written, running) = (&sql, &next, &written, &running);
                scope.spawn(move || -> Result<(), String> {
                    let _done = CountDown(running);
                    let mut client = connector.connect().map_err(|e| e.to_string())?;
                    let statement = client.prepare(sql).map_err(|e| e.to_string())?;
                    loop {
                        let batch = next.fetch_add(1, Ordering::Relaxed);
                        if batch >= batches {
                            return Ok(());
                        }
                        let start = batch * batch_size as u64;
                        let chunk: Vec<DocumentRow> = (start..rows.min(start + batch_size as u64))
                            .map(postgres::row)
                            .collect();
                        postgres::send_unnest(&mut client, &statement, &chunk)
                            .map_err(|e| format!("batch {batch}: {e}"))?;
                        written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let samples = sample(&bar, &written, &running, started, every);
        for sender in senders {
            sender
                .join()
                .map_err(|_| "a sending thread panicked".to_owned())??;
        }
        Ok(samples)
    })?;
    bar.finish_and_clear();
    let arrived = count_rows(connector, &table)?;
    if arrived != rows {
        return Err(format!(
            "soak reference: {arrived} of {rows} rows on the server"
        ));
    }
    Ok(samples)
}

/// Samples `written` every `every` until no sender runs.
fn sample(
    bar: &ProgressBar,
    written: &AtomicU64,
    running: &AtomicUsize,
    started: Instant,
    every: Duration,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let (mut last_at, mut last) = (started, 0);
    let mut next = started + every;
    while running.load(Ordering::Acquire) > 0 {
        std::thread::sleep(
            Duration::from_millis(200).min(next.saturating_duration_since(Instant::now())),
        );
        let total = written.load(Ordering::Relaxed);
        bar.set_position(total);
        let now = Instant::now();
        if now < next || running.load(Ordering::Acquire) == 0 {
            continue;
        }
        let interval_s = now.duration_since(last_at).as_secs_f64();
        samples.push(Sample {
            elapsed_s: now.duration_since(started).as_secs_f64(),
            interval_s,
            written: total - last,
            items_per_s: (total - last) as f64 / interval_s,
            ..Sample::default()
        });
        (last_at, last) = (now, total);
        next = (next + every).max(now);
    }
    samples
}

//! Adaptive concurrency in a running batcher, on a fake sink that behaves
//! like a server across a network: every batch costs a flat round trip,
//! and a sibling's first batch also pays for its connection. The limit is
//! read from the sink (how many batches were in flight halfway through
//! each write); no duration is asserted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use batch_core::{Batcher, BatcherSettings, ItemOutcome, Sink, SinkError};

/// One round trip per batch: more batches in flight cost no latency.
const ROUND_TRIP: Duration = Duration::from_millis(40);
/// A new connection: handshake, authentication, preparing (five trips).
const CONNECT: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl SinkError for Never {
    fn class(&self) -> batch_core::ErrorClass {
        batch_core::ErrorClass::Permanent
    }
}

/// Records when each batch was written, across all siblings.
struct Remote {
    connected: bool,
    writes: Arc<Mutex<Vec<(Instant, Instant)>>>,
}

impl Sink for Remote {
    type Item = u32;
    type Error = Never;

    fn write_batch(&mut self, items: &[u32]) -> Result<Vec<ItemOutcome<Never>>, Never> {
        let start = Instant::now();
        if !self.connected {
            std::thread::sleep(CONNECT);
            self.connected = true;
        }
        std::thread::sleep(ROUND_TRIP);
        let end = Instant::now();
        if let Ok(mut writes) = self.writes.lock() {
            writes.push((start, end));
        }
        Ok(items.iter().map(|_| ItemOutcome::Written).collect())
    }

    fn sibling(&self) -> Option<Self> {
        Some(Self {
            connected: false,
            writes: Arc::clone(&self.writes),
        })
    }
}

/// How many batches had `n` batches in flight (themselves included)
/// halfway through their write.
fn written_with(writes: &[(Instant, Instant)], n: usize) -> usize {
    writes
        .iter()
        .filter(|(start, end)| {
            let mid = *start + (*end - *start) / 2;
            writes.iter().filter(|(s, e)| *s <= mid && mid < *e).count() >= n
        })
        .count()
}

#[test]
fn connecting_writers_do_not_read_as_queueing_across_a_network() {
    let writes = Arc::new(Mutex::new(Vec::new()));
    // The first sink connected when it was built, as PostgreSQL's and
    // Neo4j's do; its siblings connect at their first write.
    let sink = Remote {
        connected: true,
        writes: Arc::clone(&writes),
    };
    let settings = BatcherSettings::builder()
        .batch_size(10)
        .max_in_flight(8)
        .adaptive_concurrency(true)
        .build()
        .expect("settings");
    let batcher = Batcher::new(sink, settings).expect("spawn");
    for i in 0..600 {
        batcher.add(i).map_err(|f| f.error).expect("add");
    }
    let report = batcher.flush();
    assert_eq!(report.written, 600);
    // Flat latency: the limit climbs to the cap in a few batches (46 of
    // the 60 were written with eight in flight). Read as queueing, a new
    // writer's connection (five round trips before its first batch)
    // shrinks the limit and ends the slow start: 14 of 60.
    let writes = writes.lock().expect("writes").clone();
    let at_cap = written_with(&writes, 8);
    assert!(
        at_cap >= 30,
        "{at_cap} of 60 batches written with eight in flight: {:?}",
        batcher.stats()
    );
}

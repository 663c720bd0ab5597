//! The trait every benchmarked backend implements, and the modes a
//! backend runs.

use crate::mode::{Durability, IN_FLIGHT, Mode, Profile, smallest_batch};
use crate::run::Run;

/// A backend under benchmark. Every call sets up a fresh target (table,
/// collection, database, labels) untimed, writes, checks on the server
/// that every item arrived, and returns the timed part.
pub trait Backend {
    /// What is measured: the constants of this backend's runs.
    fn profile(&self) -> &'static Profile;
    /// Whether the backend has an insert-only method ([`Mode::InsertOnly`]).
    fn insert_only(&self) -> bool {
        false
    }
    /// Whether the durable buffer is measured on this backend
    /// ([`Mode::Durable`]; its items have a codec).
    fn durable(&self) -> bool {
        false
    }
    fn run(&mut self, mode: Mode, items: usize) -> Result<Run, String>;
}

/// The modes run at `rtt_ms`: per-item, each batch size, 2, 4, 8 and 16
/// batches in flight and adaptive (up to 16) at the largest size up to 1000, the
/// library's statement sent raw at 100 and 1000, and the ceiling; without
/// added round trip also TLS and shared use. Batch 10 only without added
/// round trip (see [`smallest_batch`]).
///
/// `--quick` leaves out batch 10, 8 and 16 in flight (adaptive still goes
/// up to 16) and shared use from one thread (batch 100 again).
pub fn modes(backend: &dyn Backend, rtt_ms: u32, quick: bool) -> Vec<Mode> {
    let sizes = backend.profile().batch_sizes;
    let mut modes = vec![Mode::PerItem];
    // Each raw run right after the library run at its batch size: every
    // round rotates the list (and swaps the two every other round), so the
    // two stay neighbours and their ratio is taken within a round (see
    // `paired_with` below).
    for batch_size in sizes
        .iter()
        .copied()
        .filter(|&n| n >= smallest_batch(rtt_ms, quick))
    {
        modes.push(Mode::Batched {
            batch_size,
            in_flight: 1,
        });
        if batch_size >= smallest_batch(rtt_ms, quick).max(100) && batch_size <= 1000 {
            modes.push(Mode::Raw(batch_size));
        }
    }
    // In flight and TLS at batch 1000, where the goals are set (or the largest).
    let size = sizes
        .iter()
        .copied()
        .find(|&n| n == 1000)
        .or(sizes.iter().copied().max());
    if let Some(batch_size) = size {
        for in_flight in IN_FLIGHT.into_iter().filter(|&n| !quick || n < 8) {
            modes.push(Mode::Batched {
                batch_size,
                in_flight,
            });
        }
        modes.push(Mode::Adaptive {
            batch_size,
            max: IN_FLIGHT[IN_FLIGHT.len() - 1],
        });
    }
    modes.push(Mode::Ceiling);
    if backend.insert_only()
        && let Some(size) = size
    {
        modes.push(Mode::InsertOnly(size));
        modes.push(Mode::RawInsertOnly(size));
    }
    if rtt_ms == 0 {
        if let Some(size) = size {
            modes.push(Mode::BatchedTls(size));
        }
        if backend.durable() {
            modes.extend(Durability::ALL.map(Mode::Durable));
        }
        if !quick {
            modes.push(Mode::Shared {
                batch_size: 100,
                threads: 1,
            });
        }
        modes.push(Mode::Shared {
            batch_size: 100,
            threads: 4,
        });
    }
    modes
}

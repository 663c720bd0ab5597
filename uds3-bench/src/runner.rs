//! Runs each backend's modes in interleaved rounds (the order rotated
//! round by round, each raw run beside the library run it is the
//! reference of) and hands the samples to `stats`.

use std::time::Instant;

use indicatif::ProgressBar;

use crate::backend::{Backend, modes};
use crate::mode::Mode;
use crate::output::{Record, say};
use crate::run::Run;
use crate::stats::records;

/// One backend at one round trip: its modes, and the samples of the
/// rounds run so far. `cargo xtask bench` runs a round of every round
/// trip before the next round, so that a server's drift over the run
/// (ArcadeDB slows as relationships are deleted and recreated) hits
/// every round trip alike, as the rotated order within a round makes it
/// hit every mode alike.
pub struct Bench {
    rtt_ms: u32,
    quick: bool,
    modes: Vec<Mode>,
    samples: Vec<Vec<Run>>,
    rounds: usize,
    /// Wall time spent in this bench's rounds and warm-up.
    wall: f64,
}

impl Bench {
    pub fn new(backend: &dyn Backend, rtt_ms: u32, quick: bool) -> Self {
        let modes = modes(backend, rtt_ms, quick);
        Bench {
            rtt_ms,
            quick,
            samples: vec![Vec::new(); modes.len()],
            modes,
            rounds: 0,
            wall: 0.0,
        }
    }

    /// Runs the benchmark will make: modes times `rounds`.
    pub fn runs(&self, rounds: usize) -> usize {
        self.modes.len() * rounds
    }

    /// One untimed run (a JVM server compiles its hot paths in the first
    /// seconds; caches settle).
    pub fn warm_up(&mut self, backend: &mut dyn Backend, bar: &ProgressBar) -> Result<(), String> {
        let began = Instant::now();
        let Some(&mode) = self
            .modes
            .iter()
            .find(|m| matches!(m, Mode::Batched { in_flight: 1, .. }) && m.batch_size() >= 1000)
        else {
            return Ok(());
        };
        bar.set_message(format!(
            "{} rtt={}ms warm-up",
            backend.profile().name,
            self.rtt_ms
        ));
        let items = backend.profile().items(mode, self.quick, self.rtt_ms);
        backend
            .run(mode, items)
            .map_err(|e| format!("{} warm-up {mode:?}: {e}", backend.profile().name))?;
        self.wall += began.elapsed().as_secs_f64();
        Ok(())
    }

    /// One round of every mode, the order rotated by the round number so
    /// that slow drifts of a shared machine hit every mode alike. Every
    /// other round a raw run goes before the library run it is paired
    /// with: the first of the two meets whatever the mode before left
    /// behind (a server still busy after thousands of commits), which
    /// would otherwise always be the library.
    pub fn round(&mut self, backend: &mut dyn Backend, bar: &ProgressBar) -> Result<(), String> {
        let began = Instant::now();
        let round = self.rounds;
        for i in round_order(&self.modes, round) {
            let mode = self.modes[i];
            let items = backend.profile().items(mode, self.quick, self.rtt_ms);
            bar.set_message(format!(
                "{} rtt={}ms {} b={} f={} t={}",
                backend.profile().name,
                self.rtt_ms,
                mode.label(),
                mode.batch_size(),
                mode.in_flight(),
                mode.threads()
            ));
            let run = backend
                .run(mode, items)
                .map_err(|e| format!("{} {:?}: {e}", backend.profile().name, mode))?;
            if run.items != items {
                return Err(format!(
                    "{} {:?}: wrote {} of {items} items",
                    backend.profile().name,
                    mode,
                    run.items
                ));
            }
            self.samples[i].push(run);
            bar.inc(1);
        }
        self.rounds += 1;
        self.wall += began.elapsed().as_secs_f64();
        Ok(())
    }

    /// The records of the rounds run: medians, speedups, paired ratios.
    pub fn finish(self, backend: &dyn Backend, bar: &ProgressBar) -> Vec<Record> {
        let Bench {
            rtt_ms,
            modes,
            samples,
            rounds,
            wall,
            ..
        } = self;
        let timed: f64 = samples.iter().flatten().map(|r| r.seconds).sum();
        let line = format!(
            "{} rtt {rtt_ms} ms: {} modes x {rounds} rounds in {wall:.0} s ({timed:.0} s timed)",
            backend.profile().name,
            modes.len(),
        );
        say(bar, line);
        records(backend.profile(), rtt_ms, &modes, &samples)
    }
}

/// The indices of `modes` in the order of round `round`: rotated by the
/// round number, a raw mode and the library mode it follows moved as one
/// (so the two stay neighbours), the raw one first in odd rounds.
fn round_order(modes: &[Mode], round: usize) -> Vec<usize> {
    let mut units: Vec<Vec<usize>> = Vec::with_capacity(modes.len());
    for (i, mode) in modes.iter().enumerate() {
        match units.last_mut() {
            Some(last) if last.len() == 1 && mode.reference_of() == Some(modes[last[0]]) => {
                last.push(i);
            }
            _ => units.push(vec![i]),
        }
    }
    if units.is_empty() {
        return Vec::new();
    }
    let start = round % units.len();
    units.rotate_left(start);
    if round % 2 == 1 {
        units.iter_mut().for_each(|unit| unit.reverse());
    }
    units.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_and_raw_take_turns_going_first() {
        let lib = Mode::Batched {
            batch_size: 100,
            in_flight: 1,
        };
        let modes = [Mode::PerItem, lib, Mode::Raw(100), Mode::Ceiling];
        let position = |order: &[usize], i: usize| order.iter().position(|&j| j == i);
        for round in 0..6 {
            let order = round_order(&modes, round);
            let (l, r) = (position(&order, 1), position(&order, 2));
            let (Some(l), Some(r)) = (l, r) else {
                panic!("round {round}: {order:?}")
            };
            assert_eq!(l.abs_diff(r), 1, "neighbours in round {round}: {order:?}");
            assert_eq!(l < r, round % 2 == 0, "round {round}: {order:?}");
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [0, 1, 2, 3], "every mode once: {order:?}");
        }
    }
}

//! The statistics of a benchmark: medians over rounds, per-round ratios
//! between paired modes, percentiles of `add` latency, and the records
//! they make.

use crate::mode::{Durability, Mode, Profile};
use crate::output::Record;
use crate::run::{Handoff, Run};

/// The records of one backend's rounds at one round trip: each mode's
/// median rate, its speedup over per-item, its fraction of the ceiling,
/// and the medians of its per-round ratios to the mode it is paired with
/// (raw, plaintext, in memory, the best fixed setting); `samples[i]` are
/// the runs of `modes[i]`.
pub fn records(
    profile: &Profile,
    rtt_ms: u32,
    modes: &[Mode],
    samples: &[Vec<Run>],
) -> Vec<Record> {
    let rate = |runs: &[Run]| median(runs.iter().map(Run::rate).collect());
    let per_item = modes
        .iter()
        .position(|m| *m == Mode::PerItem)
        .map(|i| rate(&samples[i]));
    let rate_of = |wanted: Mode| {
        modes
            .iter()
            .position(|m| *m == wanted)
            .map(|i| rate(&samples[i]))
    };
    let ceiling = rate_of(Mode::Ceiling);
    modes
        .iter()
        .zip(samples)
        .map(|(mode, runs)| {
            // This mode's rate over `other`'s, round by round (the two
            // ran minutes apart at most), the median of those ratios.
            let paired_with = |other: Mode| {
                modes.iter().position(|m| *m == other).map(|j| {
                    median(
                        runs.iter()
                            .zip(&samples[j])
                            .map(|(a, b)| a.rate() / b.rate())
                            .collect(),
                    )
                })
            };
            let items_per_s = rate(runs);
            let items: usize = runs.iter().map(|r| r.items).sum();
            let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
            let requests: u64 = runs.iter().map(|r| r.requests).sum();
            let fraction_of_plaintext = match mode {
                Mode::BatchedTls(n) => paired_with(Mode::Batched {
                    batch_size: *n,
                    in_flight: 1,
                }),
                _ => None,
            };
            let fraction_of_in_memory = match mode {
                Mode::Durable(d) if *d != Durability::Off => {
                    paired_with(Mode::Durable(Durability::Off))
                }
                _ => None,
            };
            let latency = |pick: fn((f64, f64)) -> f64| {
                let xs: Vec<f64> = runs.iter().filter_map(|r| r.add_us.map(pick)).collect();
                (!xs.is_empty()).then(|| median(xs))
            };
            let handoff = |pick: fn(&Handoff) -> f64| {
                let xs: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.handoff.as_ref().map(pick))
                    .collect();
                (!xs.is_empty()).then(|| median(xs))
            };
            let fraction_of_best_fixed = match mode {
                Mode::Adaptive { batch_size, max } => {
                    best_fixed(modes, samples, *batch_size, *max).and_then(paired_with)
                }
                _ => None,
            };
            Record {
                backend: profile.name.to_owned(),
                mode: mode.label().to_owned(),
                rtt_ms,
                batch_size: mode.batch_size(),
                in_flight: mode.in_flight(),
                threads: mode.threads(),
                items,
                seconds,
                items_per_s,
                requests,
                speedup: per_item.map(|p| items_per_s / p),
                fraction_of_raw: match mode {
                    Mode::Raw(_) | Mode::RawInsertOnly(_) | Mode::Ceiling | Mode::PerItem => None,
                    Mode::InsertOnly(n) => paired_with(Mode::RawInsertOnly(*n)),
                    Mode::Durable(_) => None,
                    _ => paired_with(Mode::Raw(mode.batch_size())),
                },
                fraction_of_ceiling: ceiling.map(|c| items_per_s / c),
                fraction_of_plaintext,
                fraction_of_best_fixed,
                fraction_of_in_memory,
                add_median_us: latency(|(median, _)| median),
                add_p99_us: latency(|(_, p99)| p99),
                handoff_p50_us: handoff(|h| h.p50_us),
                handoff_p99_us: handoff(|h| h.p99_us),
                handoff_share: handoff(|h| h.share),
                claimed_speedup: profile.claimed.to_owned(),
                rounds: runs.len(),
            }
        })
        .collect()
}

/// The fixed in-flight setting at `batch_size`, up to `max` in flight,
/// with the highest median rate.
fn best_fixed(modes: &[Mode], samples: &[Vec<Run>], batch_size: usize, max: usize) -> Option<Mode> {
    modes
        .iter()
        .zip(samples)
        .filter(|(m, runs)| {
            !runs.is_empty()
                && matches!(m, Mode::Batched { batch_size: b, in_flight } if *b == batch_size && *in_flight <= max)
        })
        .map(|(m, runs)| (*m, median(runs.iter().map(Run::rate).collect())))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(m, _)| m)
}

/// The median (0 for none).
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

/// The median and 99th percentile of `ns` (nanoseconds), in microseconds.
pub fn percentiles_us(mut ns: Vec<u32>) -> Option<(f64, f64)> {
    if ns.is_empty() {
        return None;
    }
    ns.sort_unstable();
    let at = |q: f64| f64::from(ns[((ns.len() - 1) as f64 * q).round() as usize]) / 1000.0;
    Some((at(0.5), at(0.99)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_is_read_against_the_fixed_setting_with_the_best_median() {
        let fixed = |in_flight| Mode::Batched {
            batch_size: 1000,
            in_flight,
        };
        let runs = |rates: &[f64]| -> Vec<Run> {
            rates
                .iter()
                .map(|r| Run {
                    items: 1000,
                    seconds: 1000.0 / r,
                    requests: 1,
                    add_us: None,
                    handoff: None,
                })
                .collect()
        };
        let modes = [fixed(1), fixed(2), fixed(8), Mode::Raw(1000)];
        // x2 has the best median (100), x8 the single best run (150).
        let samples = [
            runs(&[50.0, 50.0, 50.0]),
            runs(&[90.0, 100.0, 110.0]),
            runs(&[150.0, 60.0, 70.0]),
            runs(&[500.0, 500.0, 500.0]),
        ];
        assert_eq!(best_fixed(&modes, &samples, 1000, 8), Some(fixed(2)));
        assert_eq!(best_fixed(&modes, &samples, 1000, 1), Some(fixed(1)));
        assert_eq!(best_fixed(&modes, &samples, 100, 8), None);
    }

    #[test]
    fn add_latency_is_read_as_median_and_p99_in_microseconds() {
        assert_eq!(percentiles_us(Vec::new()), None);
        // 1..=100 µs in nanoseconds, shuffled: the median rounds to the
        // 51st (index 49.5 -> 50), the p99 to the 99th value.
        let mut ns: Vec<u32> = (1..=100).map(|us| us * 1000).collect();
        ns.reverse();
        ns.swap(3, 70);
        assert_eq!(percentiles_us(ns), Some((51.0, 99.0)));
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_two() {
        assert_eq!(median(Vec::new()), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    /// Ratios are taken round by round: a run that was slow in every
    /// mode of its round (a busy machine) does not move the ratio.
    #[test]
    fn paired_ratios_are_medians_of_per_round_ratios() {
        let run = |rate: f64| Run {
            items: 1000,
            seconds: 1000.0 / rate,
            requests: 1,
            add_us: None,
            handoff: None,
        };
        let lib = Mode::Batched {
            batch_size: 100,
            in_flight: 1,
        };
        let modes = [Mode::PerItem, lib, Mode::Raw(100)];
        let samples = [
            vec![run(10.0), run(5.0), run(10.0)],
            vec![run(90.0), run(45.0), run(80.0)],
            vec![run(100.0), run(50.0), run(100.0)],
        ];
        let profile = Profile {
            name: "test",
            claimed: "-",
            batch_sizes: &[100],
            per_item: (1, 1),
            batched: (1, 1),
            large: (1, 1),
        };
        let records = records(&profile, 0, &modes, &samples);
        let library = &records[1];
        assert_eq!(library.mode, lib.label());
        assert_eq!(library.items_per_s, 80.0);
        assert_eq!(library.fraction_of_raw, Some(0.9));
        assert_eq!(library.speedup, Some(8.0));
        assert_eq!(records[2].fraction_of_raw, None);
    }
}

//! Adaptive concurrency: how many batches may be in flight, found from the
//! requests' latency and throughput, never above `max_in_flight`. This is
//! the one description of the rule; the settings, the crate docs and the
//! workspace's docs/ pages point here.
//!
//! Each resolved near-full batch is one observation: its latency (the time
//! its requests took, never a retry's backoff sleep) and `n`, the batches
//! in flight when it was sent, itself included. The baseline `base` is the
//! latency of a batch alone on the server: the running average of batches
//! sent while no other was in flight, otherwise the lowest seen. With
//! latency `x`, about `n * (1 - base / x)` of the `n` were waiting at the
//! server rather than being worked on or travelling (TCP Vegas' estimate
//! of the queue), and `n * base / x` is how many the server and the
//! network carry without a queue: the level where throughput stops rising.
//!
//! 1. **Start** from the level given by
//!    [`BatcherSettings::adaptive_start`](crate::BatcherSettings::adaptive_start)
//!    (the last good level of an earlier batcher, its
//!    [`Stats::adaptive_limit`](crate::Stats::adaptive_limit)), in step 3;
//!    otherwise from one batch, in step 2.
//! 2. **Slow start.** While latency stays flat (fewer than [`GAMMA`]
//!    batches waiting) and every allowed slot is busy, each observation
//!    doubles the limit, so that a short stream reaches its level in a
//!    few batches. The first observation that saw a queue, whatever level
//!    it was sent at, cuts the limit to its estimate (`n * base / x`,
//!    rounded up); further ones lower the cut (the first batches of a
//!    burst find fewer of it at the server than were sent); one without a
//!    queue sent above the cut undoes it (it was a late answer, jitter);
//!    the first batch sent at the cut ends slow start.
//! 3. **Probing**, one decision per round of `limit + 1` observations of
//!    batches sent at the current limit with every slot busy: their mean
//!    latency `x`, and their throughput, counted (`limit` ends over the
//!    time from the first to the last) and by Little's law (`limit / x`).
//!    - Fewer than [`ALPHA`] waiting: one more (additive increase),
//!      unless that is the level an overload was last met at.
//!    - More than [`BETA`] waiting: a step down is probed at once.
//!    - Otherwise it holds, and every [`PROBE_EVERY`] rounds it probes one
//!      step, up and down in turn (and up to a level that overloaded).
//!      A step up is kept if both measures of throughput rose by at least
//!      [`PROBE_GAIN`] of what one batch more gives a server that scales
//!      linearly; a step down is kept if either fell by less than that.
//!      A server whose throughput still rises with latency (several cores
//!      behind a long round trip) is followed up; a level that only adds
//!      latency is left; noise alone does not buy latency.
//! 4. **Overload.** A batch that met a retriable error (a deadlock, a 429
//!    or 503, a lost connection; retried after a backoff or not) is no
//!    latency observation but a sign of overload: the limit is multiplied
//!    by [`DECREASE`], slow start ends, a probe is abandoned, and growing
//!    back to that level is a probe. Once per window: a batch sent with
//!    more in flight than the limit now allows was answered by the
//!    decrease that brought it there.
//!
//! The level it settled at (a probe's step not counted) is
//! [`Stats::adaptive_limit`](crate::Stats::adaptive_limit).
//!
//! How fast: that a level is too many shows only in a batch sent at it,
//! which ends after the batches sent before it. From one batch the limit
//! is within one step of the best level by the 8th batch where that level
//! is 4 (at 1 ms or 50 ms; the unit tests' simulated servers), within
//! about `best + 6` batches for more (17 for 12); from a remembered level
//! at once. Across a network latency stays flat as batches are added, so
//! the limit doubles to the cap. Writers connect ahead
//! ([`Sink::connect_ahead`](crate::Sink::connect_ahead)) so that a step
//! does not wait for a connection; a writer's first batch may still pay
//! for part of one, so it is no latency observation, but in slow start
//! its end doubles the limit like a flat one.

use std::time::Duration;

/// Batches waiting at the server below which latency counts as flat: the
/// limit grows (half a batch, so that a level just past the knee, with
/// one batch waiting, holds).
const ALPHA: f64 = 0.5;
/// Batches waiting at the server from which slow start ends: a whole
/// one, so that a network's jitter (a few percent of latency) does not end
/// it early at a high level.
const GAMMA: f64 = 1.0;
/// Batches waiting at the server above which a step down is probed at
/// once.
const BETA: f64 = 3.0;
/// Multiplicative decrease on overload.
const DECREASE: f64 = 0.75;
/// Weight of a new lone batch's latency in the baseline.
const ALPHA_BASELINE: f64 = 0.3;
/// Rounds held between two probes.
const PROBE_EVERY: u32 = 4;
/// Share of a linear step's gain in throughput (`1 / level`) that decides
/// a probe.
const PROBE_GAIN: f64 = 0.25;
/// Slack for rounding an estimate up: 4.000000001 batches is four.
const EPSILON: f64 = 1e-9;

/// A step of one batch tried to see whether it helps.
#[derive(Debug, Clone, Copy)]
struct Probe {
    /// The level it left, and returns to unless the step is kept.
    from: usize,
    /// Throughput at `from`, batches per second, as counted (ends over
    /// time) and by Little's law (`n / x`).
    rate: [f64; 2],
}

/// The in-flight limit and the latency statistics it follows.
#[derive(Debug, Clone)]
pub(crate) struct Adaptive {
    limit: usize,
    cap: usize,
    /// Latency of a batch alone on the server, seconds.
    baseline: Option<f64>,
    /// Doubling until latency rises.
    slow_start: bool,
    /// In slow start, after a first sign of a queue cut the limit: the
    /// limit before the cut, until a second sign confirms it.
    tentative: Option<usize>,
    /// The current round: observations of batches sent at `limit`.
    round: Round,
    /// Rounds held since the last change.
    held: u32,
    probe: Option<Probe>,
    /// The next probe goes up (else down).
    probe_up: bool,
    /// The level an overload was last met at: growing back to it is a
    /// probe, not a step of additive increase.
    ceiling: Option<usize>,
}

impl Adaptive {
    /// Up to `cap` in flight; from `start` in the probing phase if given
    /// (a remembered level), else from one batch in slow start.
    pub(crate) fn new(cap: usize, start: Option<usize>) -> Self {
        let cap = cap.max(1);
        Self {
            limit: start.unwrap_or(1).clamp(1, cap),
            cap,
            baseline: None,
            slow_start: start.is_none(),
            tentative: None,
            round: Round::default(),
            held: 0,
            probe: None,
            probe_up: true,
            ceiling: None,
        }
    }

    /// Batches that may be in flight now.
    pub(crate) fn allowed(&self) -> usize {
        self.limit
    }

    /// The level it settled at: the limit, or while a probe runs, the
    /// level the probe left.
    pub(crate) fn settled(&self) -> usize {
        self.probe.map_or(self.limit, |p| p.from)
    }

    /// One batch's latency: the time its requests took, without backoff.
    /// `sent_with`: batches in flight when it was sent, itself included;
    /// `saturated`: every allowed slot was busy when it ended; `ended`:
    /// when it ended, on a clock that only goes forward (the pool's: time
    /// since it started).
    pub(crate) fn observe(
        &mut self,
        latency: Duration,
        sent_with: usize,
        saturated: bool,
        ended: Duration,
    ) {
        let x = latency.as_secs_f64();
        let n = sent_with.max(1);
        let base = match self.baseline {
            None => x,
            Some(b) if n == 1 => b + ALPHA_BASELINE * (x - b),
            Some(b) => b.min(x),
        };
        self.baseline = Some(base);
        if self.slow_start {
            let queue = waiting(n, base, x) + EPSILON >= GAMMA;
            match (queue, self.tentative) {
                // The first sign of a queue cuts the limit to its estimate.
                (true, None) => {
                    self.tentative = Some(self.limit);
                    self.set(estimate(n, base, x));
                }
                // A level above the cut without a queue: the sign was one
                // late answer (jitter), and slow start goes on.
                (false, Some(before)) if n > self.limit => {
                    self.tentative = None;
                    self.set(before);
                }
                // Further signs lower the cut: the first batches of a burst
                // find fewer of it at the server than were sent. A batch
                // sent at the cut ends slow start.
                (_, Some(_)) => {
                    if queue {
                        let level = estimate(n, base, x);
                        if level < self.limit {
                            self.set(level);
                        }
                    }
                    if n == self.limit {
                        self.slow_start = false;
                        self.tentative = None;
                    }
                }
                (false, None) if saturated => self.set(self.limit.saturating_mul(2)),
                (false, None) => {}
            }
            return;
        }
        if n != self.limit {
            // Sent at another level, or with idle slots: not this round's.
            return;
        }
        let round = &mut self.round;
        let ended = ended.as_secs_f64();
        round.first.get_or_insert(ended);
        round.last = ended;
        round.count += 1;
        round.latency += x;
        if round.count <= self.limit {
            return;
        }
        // `limit` intervals between `limit + 1` ends: the throughput.
        let Round {
            count,
            latency,
            first,
            last,
        } = std::mem::take(round);
        let x = latency / count as f64;
        let span = last - first.unwrap_or(last);
        let counted = if span > 0.0 {
            (count - 1) as f64 / span
        } else {
            f64::MAX
        };
        let rate = [counted, if x > 0.0 { n as f64 / x } else { f64::MAX }];
        if let Some(probe) = self.probe.take() {
            let gains = [0, 1].map(|i| rate[i] / probe.rate[i] - 1.0);
            // Up only if both measures gained; down if either lost little:
            // noise must not buy latency.
            let keep = if self.limit > probe.from {
                gains.iter().all(|&g| g >= PROBE_GAIN / probe.from as f64)
            } else {
                gains.iter().any(|&g| g > -PROBE_GAIN / self.limit as f64)
            };
            if !keep {
                self.set(probe.from);
            } else if self.ceiling.is_some_and(|c| c <= self.limit) {
                self.ceiling = None;
            }
            return;
        }
        let waiting = waiting(n, base, x);
        if waiting < ALPHA && self.ceiling.is_none_or(|c| n + 1 < c) {
            self.held = 0;
            self.set(n + 1);
            return;
        }
        self.held += 1;
        let to = if waiting > BETA {
            // Many waiting: whether they buy throughput is tried at once.
            n - 1
        } else if self.held >= PROBE_EVERY {
            let up = self.probe_up || n == 1;
            self.probe_up = !up;
            if up { n + 1 } else { n - 1 }
        } else {
            return;
        };
        if (1..=self.cap).contains(&to) {
            self.held = 0;
            self.probe = Some(Probe { from: n, rate });
            self.set(to);
        }
    }

    /// A writer's first batch ended: its latency may include the rest of
    /// the writer's connection, so it says nothing about queueing, but it
    /// did end. In slow start (no cut waiting to be confirmed), with every
    /// allowed slot busy, it doubles the limit like a batch that saw no
    /// queueing.
    pub(crate) fn first_of_writer(&mut self, saturated: bool) {
        if self.slow_start && self.tentative.is_none() && saturated {
            self.set(self.limit.saturating_mul(2));
        }
    }

    /// A batch ended that met a retriable error: a deadlock, a throttle
    /// (429, 503), a lost connection, retried after a backoff or not. The
    /// limit shrinks by [`DECREASE`], slow start ends, a probe is
    /// abandoned, and the level is remembered as a ceiling that only a
    /// probe passes; `sent_with` as in [`observe`](Self::observe): a batch
    /// sent with more in flight than the limit allows now was already
    /// answered by the decrease that brought it there.
    pub(crate) fn overloaded(&mut self, sent_with: usize) {
        if sent_with > self.limit {
            return;
        }
        self.slow_start = false;
        self.tentative = None;
        self.probe = None;
        self.held = 0;
        self.ceiling = Some(self.limit);
        self.set((self.limit as f64 * DECREASE).floor() as usize);
    }

    /// A new limit, within `1..=cap`; a new round starts.
    fn set(&mut self, limit: usize) {
        self.limit = limit.clamp(1, self.cap);
        self.round = Round::default();
    }
}

/// Observations of batches sent at the current limit, with every slot
/// busy: `limit + 1` of them make a round.
#[derive(Debug, Clone, Default)]
struct Round {
    count: usize,
    /// Sum of their latencies, seconds.
    latency: f64,
    /// When the first and the last of them ended, seconds.
    first: Option<f64>,
    last: f64,
}

/// Batches of `n` waiting at the server, with baseline `base` and latency
/// `x`.
fn waiting(n: usize, base: f64, x: f64) -> f64 {
    if x > 0.0 {
        n as f64 * (1.0 - base / x).max(0.0)
    } else {
        0.0
    }
}

/// The level the server and the network carry without a queue, rounded
/// up: `n * base / x`.
fn estimate(n: usize, base: f64, x: f64) -> usize {
    if x > 0.0 {
        ((n as f64 * base / x - EPSILON).ceil().max(1.0)) as usize
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Latency, seconds, of a batch sent with `n` in flight.
    type Server<'a> = dyn Fn(usize) -> f64 + 'a;

    /// A server behind a round trip of `round_trip_ms` with `workers`
    /// working on a batch for `service_ms` each. Up to its best level (the
    /// batches the round trip and the workers hold without a queue) a
    /// batch costs the round trip and its service; beyond, throughput is
    /// flat and latency grows with every batch more (they queue).
    fn knee(round_trip_ms: f64, service_ms: f64, workers: f64) -> impl Fn(usize) -> f64 {
        let base = (round_trip_ms + service_ms) / 1000.0;
        let best = workers * (round_trip_ms + service_ms) / service_ms;
        move |n| base * (n as f64 / best).max(1.0)
    }

    /// A run in simulated time: per resolved batch, the limit allowed and
    /// the level settled at after it; and batches per second once past
    /// its first quarter (a fixed level's first round runs as if the
    /// server were empty).
    struct Run {
        levels: Vec<(usize, usize)>,
        rate: f64,
    }

    /// Writes `batches` batches of a stream that always has one ready,
    /// dispatched as the pool does (up to the limit, refilled at each
    /// end), to `server`, in simulated time: with `adaptive`, or with a
    /// fixed limit of `fixed`.
    fn simulate(
        server: &Server<'_>,
        mut adaptive: Option<&mut Adaptive>,
        fixed: usize,
        batches: usize,
    ) -> Run {
        // (ends at, sent at, sent with): in flight.
        let mut flight: Vec<(f64, f64, usize)> = Vec::new();
        let (mut now, mut levels, mut warm) = (0.0, Vec::new(), 0.0);
        for i in 0..batches {
            if i == batches / 4 {
                warm = now;
            }
            let allowed = adaptive.as_ref().map_or(fixed, |a| a.allowed());
            while flight.len() < allowed {
                let n = flight.len() + 1;
                flight.push((now + server(n), now, n));
            }
            let (first, _) = flight
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
                .expect("a batch in flight");
            let running = flight.len();
            let (end, sent, n) = flight.remove(first);
            now = end;
            if let Some(a) = adaptive.as_mut() {
                let saturated = running >= a.allowed();
                a.observe(
                    Duration::from_secs_f64(end - sent),
                    n,
                    saturated,
                    Duration::from_secs_f64(end),
                );
                levels.push((a.allowed(), a.settled()));
            }
        }
        Run {
            levels,
            rate: (batches - batches / 4) as f64 / (now - warm),
        }
    }

    /// The best fixed level up to `cap`: the fewest in flight with the
    /// highest throughput (within 2%: a run ends mid-round); and that
    /// throughput.
    fn best_fixed(server: &Server<'_>, cap: usize) -> (usize, f64) {
        let rates: Vec<f64> = (1..=cap)
            .map(|n| simulate(server, None, n, 4000).rate)
            .collect();
        let top = rates.iter().copied().fold(0.0, f64::max);
        let best = rates
            .iter()
            .position(|&r| r >= top * 0.98)
            .expect("a best level");
        (best + 1, top)
    }

    /// The first batch (counting from 1) from which on the settled level
    /// stays within one step of `best`, and a probe within one step of it.
    fn converged_from(levels: &[(usize, usize)], best: usize) -> usize {
        let ok = |&(allowed, settled): &(usize, usize)| {
            settled.abs_diff(best) <= 1 && allowed.abs_diff(settled) <= 1
        };
        levels.len() - levels.iter().rev().take_while(|l| ok(l)).count() + 1
    }

    #[test]
    fn converges_in_eight_batches_at_1_ms_and_50_ms() {
        // 1 ms away, two workers at 1 ms a batch: four in flight keep them
        // busy. 50 ms away, three workers at 150 ms a batch: four too.
        for (round_trip, service, workers, best) in [(1.0, 1.0, 2.0, 4), (50.0, 150.0, 3.0, 4)] {
            let server = knee(round_trip, service, workers);
            let (fixed, top) = best_fixed(&server, 16);
            assert_eq!(fixed, best, "{round_trip} ms");
            let mut a = Adaptive::new(16, None);
            let run = simulate(&server, Some(&mut a), 0, 400);
            let from = converged_from(&run.levels, best);
            let head: Vec<usize> = run.levels.iter().take(12).map(|l| l.0).collect();
            eprintln!(
                "{round_trip} ms: best {best}, limits {head:?}, within one step from batch {from}, {:.3} of the best fixed throughput",
                run.rate / top
            );
            assert!(
                from <= 8,
                "{round_trip} ms: within one step of {best} from batch {from}: {head:?}"
            );
            assert!(
                run.rate >= 0.95 * top,
                "{round_trip} ms: {:.1} of the best fixed {top:.1} batches/s",
                run.rate
            );
        }
    }

    #[test]
    fn a_long_pipe_settles_after_its_evidence_and_at_once_from_a_remembered_level() {
        // 50 ms away, two workers at 10 ms a batch: twelve in flight. That
        // twelve is too few shows only once a batch sent with 13 ends.
        let server = knee(50.0, 10.0, 2.0);
        let (best, top) = best_fixed(&server, 16);
        assert_eq!(best, 12);
        let mut a = Adaptive::new(16, None);
        let run = simulate(&server, Some(&mut a), 0, 400);
        let from = converged_from(&run.levels, best);
        eprintln!(
            "best {best}: within one step from batch {from}, {:.3} of the best fixed throughput",
            run.rate / top
        );
        assert!(from <= best + 6, "from batch {from}");
        assert!(run.rate >= 0.9 * top, "{:.1} of {top:.1}", run.rate);
        let mut a = Adaptive::new(16, Some(best));
        let run = simulate(&server, Some(&mut a), 0, 400);
        assert_eq!(
            converged_from(&run.levels, best),
            1,
            "{:?}",
            &run.levels[..20]
        );
        assert!(run.rate >= 0.95 * top, "{:.1} of {top:.1}", run.rate);
    }

    #[test]
    fn flat_latency_doubles_to_the_cap() {
        // A network round trip: more in flight costs no latency.
        let mut a = Adaptive::new(16, None);
        let run = simulate(&|_| 0.010, Some(&mut a), 0, 200);
        let limits: Vec<usize> = run.levels.iter().map(|l| l.0).collect();
        assert_eq!(limits[..4], [2, 4, 8, 16], "slow start: {limits:?}");
        assert!(limits[4..].iter().all(|&l| l == 16), "{limits:?}");
    }

    #[test]
    fn a_queueing_server_keeps_the_limit_low() {
        // Server-bound: each extra batch in flight adds a full batch time,
        // and no throughput.
        let server = |n: usize| 0.010 * n as f64;
        let mut a = Adaptive::new(8, None);
        let run = simulate(&server, Some(&mut a), 0, 400);
        let tail = &run.levels[100..];
        assert!(tail.iter().all(|l| l.0 <= 3), "{tail:?}");
        let mean = tail.iter().map(|l| l.0).sum::<usize>() as f64 / tail.len() as f64;
        assert!(mean < 2.5, "stays near 1-2: mean {mean}");
    }

    #[test]
    fn a_server_whose_throughput_still_rises_is_followed_up() {
        // Like PostgreSQL on two cores behind a round trip: 10 ms away,
        // 10 ms of work on two cores. Latency rises from three in flight
        // on, and throughput with it, slower and slower. Waiting batches
        // alone (the old rule) held it at three or four.
        let server = |n: usize| 0.010 + 0.010 * (n as f64 / 2.0).max(1.0);
        let (_, top) = best_fixed(&server, 8);
        let mut a = Adaptive::new(8, None);
        let run = simulate(&server, Some(&mut a), 0, 600);
        assert!(run.rate >= 0.9 * top, "{:.1} of {top:.1}", run.rate);
        let tail = &run.levels[300..];
        assert!(tail.iter().all(|l| l.1 >= 4), "{tail:?}");
    }

    #[test]
    fn a_server_that_became_slower_for_good_is_followed() {
        // The same knee three times slower from batch 1000 on: the level
        // is found again, not mistaken for endless queueing.
        let mut a = Adaptive::new(16, None);
        let fast = knee(1.0, 1.0, 2.0);
        let slow = |n: usize| 3.0 * fast(n);
        simulate(&fast, Some(&mut a), 0, 1000);
        assert!(a.settled().abs_diff(4) <= 1, "{}", a.settled());
        let run = simulate(&slow, Some(&mut a), 0, 1000);
        let tail = &run.levels[500..];
        assert!(tail.iter().all(|l| l.1.abs_diff(4) <= 1), "{tail:?}");
    }

    /// Observes a batch of `ms` latency that ended `ms` after the last.
    fn tick(a: &mut Adaptive, ms: u64, sent_with: usize, saturated: bool) {
        let ended = a.round.first.map_or(Duration::ZERO, |_| {
            Duration::from_secs_f64(a.round.last) + Duration::from_millis(ms)
        });
        a.observe(Duration::from_millis(ms), sent_with, saturated, ended);
    }

    #[test]
    fn never_above_the_cap_nor_below_one() {
        let mut a = Adaptive::new(3, None);
        for i in 0..1000_u64 {
            let latency = if i % 7 == 0 { 1.0 } else { 0.001 };
            a.observe(
                Duration::from_secs_f64(latency),
                (i % 4) as usize,
                i % 3 != 0,
                Duration::from_millis(i / 2),
            );
            if i % 11 == 0 {
                a.overloaded((i % 5) as usize);
            }
            assert!((1..=3).contains(&a.allowed()), "{a:?}");
        }
        assert_eq!(Adaptive::new(0, None).allowed(), 1);
        assert_eq!(Adaptive::new(4, Some(9)).allowed(), 4);
        assert_eq!(Adaptive::new(4, Some(0)).allowed(), 1);
    }

    #[test]
    fn a_writers_first_batch_doubles_the_limit_in_slow_start_only() {
        let mut a = Adaptive::new(16, None);
        a.first_of_writer(true);
        assert_eq!(a.allowed(), 2, "slow start, every slot busy");
        a.first_of_writer(false);
        assert_eq!(a.allowed(), 2, "a slot was idle");
        tick(&mut a, 10, 1, true);
        assert_eq!(a.allowed(), 4);
        // Two of three batches waiting: the limit is cut to the estimate,
        // and a first batch does not grow it while that waits for a second
        // sign, nor once it came.
        tick(&mut a, 30, 3, true);
        assert_eq!(a.allowed(), 1, "3 * 10 / 30");
        a.first_of_writer(true);
        assert_eq!(a.allowed(), 1);
        tick(&mut a, 30, 3, true);
        assert_eq!(a.allowed(), 1);
        a.first_of_writer(true);
        assert_eq!(
            a.allowed(),
            1,
            "after slow start a first batch tells nothing"
        );
    }

    #[test]
    fn overload_shrinks_the_limit_once_per_window_and_ends_slow_start() {
        let mut a = Adaptive::new(16, None);
        for _ in 0..3 {
            tick(&mut a, 10, 1, true);
        }
        assert_eq!(a.allowed(), 8, "slow start");
        a.overloaded(8);
        assert_eq!(a.allowed(), 6, "8 * 0.75");
        a.overloaded(8);
        assert_eq!(a.allowed(), 6, "sent with 8: answered by the decrease to 6");
        a.overloaded(6);
        assert_eq!(a.allowed(), 4, "6 * 0.75");
        // No queueing after it: no doubling, one more per round of five.
        for _ in 0..4 {
            tick(&mut a, 10, 4, true);
        }
        assert_eq!(a.allowed(), 4);
        tick(&mut a, 10, 4, true);
        assert_eq!(a.allowed(), 5);
        for _ in 0..20 {
            a.overloaded(1);
        }
        assert_eq!(a.allowed(), 1, "never below one");
    }

    #[test]
    fn idle_slots_do_not_grow_the_limit() {
        let mut a = Adaptive::new(8, None);
        for _ in 0..100 {
            tick(&mut a, 10, 1, false);
        }
        assert_eq!(a.allowed(), 1);
        let mut a = Adaptive::new(8, Some(4));
        for _ in 0..100 {
            tick(&mut a, 10, 2, false);
        }
        assert_eq!(a.allowed(), 4, "batches sent with idle slots");
    }
}

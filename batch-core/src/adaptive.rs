//! Adaptive concurrency: how many batches may be in flight, adjusted from
//! the latency of the requests, never above `max_in_flight`. The model is
//! Vector's adaptive request concurrency, with TCP Vegas' estimate of the
//! queue in place of Vector's comparison with a running mean (a running
//! mean absorbs the very queueing it should detect):
//!
//! - Each resolved full batch is one observation of request latency,
//!   except a writer's first: it may also pay for the writer's connection,
//!   which is no queueing; in slow start its end still grows the limit.
//!   Writers connect ahead ([`Sink::connect_ahead`](crate::Sink::connect_ahead)),
//!   all together as the batcher starts, so that a step of the ramp does
//!   not wait for a connection (across a network, several round trips).
//!   What a first batch still pays: the rest of a connect that had not
//!   ended when the batch came, or all of it for a sink that cannot
//!   connect without a request.
//! - The baseline is the latency of a batch alone on the server: the
//!   running average of batches sent while no other was in flight, and
//!   otherwise the lowest latency seen.
//! - With `n` batches in flight and latency `x`, about `n * (1 - base/x)`
//!   of them are waiting at the server rather than being worked on or
//!   travelling. Fewer than [`ALPHA`] waiting, and every allowed slot
//!   busy: the limit grows, by one per observation until the first sign of
//!   queueing (slow start, so a short stream reaches its concurrency in a
//!   few batches), then by one per round of `limit` observations. More
//!   than [`BETA`] waiting: it shrinks by [`DECREASE`]. In between it holds.
//!
//! Across a network the latency stays flat as batches are added (the
//! round trip, not the server, is what they wait for), so the limit climbs
//! to the cap. A server that works on several batches at once (PostgreSQL
//! on several cores) keeps the limit where one or two batches wait: its
//! throughput still rises there although each request takes longer. A
//! server that works on one batch at a time keeps it at two.

use std::time::Duration;

/// Batches waiting at the server below which the limit grows.
const ALPHA: f64 = 1.0;
/// Batches waiting at the server above which the limit shrinks.
const BETA: f64 = 3.0;
/// Multiplicative decrease on congestion.
const DECREASE: f64 = 0.75;
/// Weight of a new lone batch's latency in the baseline.
const ALPHA_BASELINE: f64 = 0.3;

/// The in-flight limit and the latency statistics it follows.
#[derive(Debug, Clone)]
pub(crate) struct Adaptive {
    limit: f64,
    cap: usize,
    /// Latency of a batch alone on the server, seconds.
    baseline: Option<f64>,
    /// No queueing seen yet: grow by one per observation.
    slow_start: bool,
}

impl Adaptive {
    /// Starts at one batch in flight, up to `cap`.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            limit: 1.0,
            cap: cap.max(1),
            baseline: None,
            slow_start: true,
        }
    }

    /// Batches that may be in flight now.
    pub(crate) fn allowed(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.cap)
    }

    /// One request's latency. `in_flight`: batches in flight when it
    /// ended, itself included; `alone`: no other batch was in flight when
    /// it was sent; `saturated`: every allowed slot was busy when it ended.
    pub(crate) fn observe(
        &mut self,
        latency: Duration,
        in_flight: usize,
        alone: bool,
        saturated: bool,
    ) {
        let x = latency.as_secs_f64();
        let baseline = match self.baseline {
            None => x,
            Some(b) if alone => b + ALPHA_BASELINE * (x - b),
            Some(b) => b.min(x),
        };
        self.baseline = Some(baseline);
        let waiting = if x > 0.0 {
            in_flight.max(1) as f64 * (1.0 - baseline / x).max(0.0)
        } else {
            0.0
        };
        if waiting > BETA {
            self.limit = (self.limit * DECREASE).max(1.0);
            self.slow_start = false;
        } else if waiting < ALPHA {
            if saturated {
                self.grow();
            }
        } else {
            self.slow_start = false;
        }
    }

    /// A writer's first batch ended: its latency includes the writer's
    /// connection, so it says nothing about queueing, but it did end. In
    /// slow start, with every allowed slot busy, that grows the limit
    /// like any batch that saw no queueing, so that a stream whose
    /// writers connect across a network reaches its concurrency as fast
    /// as one whose writers are connected.
    pub(crate) fn first_of_writer(&mut self, saturated: bool) {
        if self.slow_start && saturated {
            self.grow();
        }
    }

    /// A batch ended whose request the server rolled back as deadlocked
    /// (and which was retried): like a throttle, the limit shrinks by
    /// [`DECREASE`] and slow start ends. Deadlocks come from batches in
    /// flight at once waiting for each other's locks, so fewer in flight
    /// make fewer of them.
    pub(crate) fn deadlocked(&mut self) {
        self.limit = (self.limit * DECREASE).max(1.0);
        self.slow_start = false;
    }

    fn grow(&mut self) {
        let step = if self.slow_start {
            1.0
        } else {
            1.0 / self.limit
        };
        self.limit = (self.limit + step).min(self.cap as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `rounds` observations where latency is `latency(in_flight,
    /// round)`, every slot busy; returns the limits seen.
    fn drive(cap: usize, rounds: usize, latency: impl Fn(usize, usize) -> f64) -> Vec<usize> {
        let mut a = Adaptive::new(cap);
        (0..rounds)
            .map(|round| {
                let n = a.allowed();
                a.observe(Duration::from_secs_f64(latency(n, round)), n, n == 1, true);
                a.allowed()
            })
            .collect()
    }

    #[test]
    fn flat_latency_climbs_to_the_cap() {
        // A network round trip: more in flight costs no latency.
        let limits = drive(8, 200, |_, _| 0.010);
        assert_eq!(
            limits[..8],
            [2, 3, 4, 5, 6, 7, 8, 8],
            "slow start: {limits:?}"
        );
        assert_eq!(limits.last(), Some(&8), "{limits:?}");
        assert!(
            limits.windows(2).all(|w| w[1] >= w[0]),
            "never shrinks: {limits:?}"
        );
    }

    #[test]
    fn a_queueing_server_keeps_the_limit_low() {
        // Server-bound: each extra batch in flight adds a full batch time.
        let limits = drive(8, 400, |n, _| 0.010 * n as f64);
        let tail = &limits[100..];
        let mean = tail.iter().sum::<usize>() as f64 / tail.len() as f64;
        assert!(
            mean < 3.0,
            "stays near 1-2, not at the cap: mean {mean}, {tail:?}"
        );
        assert!(tail.iter().all(|&l| l >= 1));
    }

    #[test]
    fn a_server_that_scales_a_little_settles_at_its_knee() {
        // Like PostgreSQL on two cores: a second batch costs a third more
        // latency (and gives 1.5x throughput); a third costs two thirds.
        let limits = drive(8, 400, |n, _| 0.010 * (1.0 + (n as f64 - 1.0) / 3.0));
        let tail = &limits[200..];
        assert!(tail.iter().all(|l| (2..=3).contains(l)), "{tail:?}");
    }

    #[test]
    fn a_round_trip_before_a_two_core_server_keeps_both_cores_busy() {
        // 10 ms of round trip, then 10 ms of server time per batch on two
        // cores: two batches cost no latency, four add a third, eight add
        // half again (throughput still rises, slower and slower).
        let limits = drive(8, 400, |n, _| 0.010 + 0.010 * (n as f64 / 2.0).max(1.0));
        let tail = &limits[50..];
        assert!(tail.iter().all(|l| (3..=6).contains(l)), "{tail:?}");
    }

    #[test]
    fn a_server_that_became_slower_for_good_is_followed() {
        // The same server three times slower from round 1000 on: the knee
        // is found again, not mistaken for endless queueing.
        let limits = drive(8, 2000, |n, round| {
            let base = if round < 1000 { 0.010 } else { 0.030 };
            base * (1.0 + (n as f64 - 1.0) / 3.0)
        });
        let tail = &limits[1500..];
        assert!(tail.iter().all(|l| (2..=3).contains(l)), "{tail:?}");
    }

    #[test]
    fn never_above_the_cap_nor_below_one() {
        let mut a = Adaptive::new(3);
        for i in 0..1000_u64 {
            let latency = if i % 7 == 0 { 1.0 } else { 0.001 };
            a.observe(
                Duration::from_secs_f64(latency),
                (i % 4) as usize,
                i % 5 == 0,
                i % 3 != 0,
            );
            assert!((1..=3).contains(&a.allowed()));
        }
        assert_eq!(Adaptive::new(0).allowed(), 1);
    }

    #[test]
    fn a_writers_first_batch_grows_the_limit_in_slow_start_only() {
        let mut a = Adaptive::new(8);
        a.first_of_writer(true);
        assert_eq!(a.allowed(), 2, "slow start, every slot busy");
        a.first_of_writer(false);
        assert_eq!(a.allowed(), 2, "a slot was idle");
        a.observe(Duration::from_millis(10), 1, true, true);
        assert_eq!(a.allowed(), 3);
        // Two of three batches waiting: slow start ends, the limit holds.
        a.observe(Duration::from_millis(30), 3, false, true);
        assert_eq!(a.allowed(), 3);
        a.first_of_writer(true);
        assert_eq!(
            a.allowed(),
            3,
            "after slow start a first batch tells nothing"
        );
    }

    #[test]
    fn a_deadlock_shrinks_the_limit_and_ends_slow_start() {
        let mut a = Adaptive::new(16);
        for _ in 0..7 {
            a.observe(Duration::from_millis(10), 1, true, true);
        }
        assert_eq!(a.allowed(), 8, "slow start");
        a.deadlocked();
        assert_eq!(a.allowed(), 6, "8 * 0.75");
        // No queueing after it: growth is one per round, not per batch.
        a.observe(Duration::from_millis(10), 6, false, true);
        assert_eq!(a.allowed(), 6);
        for _ in 0..20 {
            a.deadlocked();
        }
        assert_eq!(a.allowed(), 1, "never below one");
    }

    #[test]
    fn idle_slots_do_not_grow_the_limit() {
        let mut a = Adaptive::new(8);
        for _ in 0..100 {
            a.observe(Duration::from_millis(10), 1, false, false);
        }
        assert_eq!(a.allowed(), 1);
    }
}

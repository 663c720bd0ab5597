//! Retry of transient whole-batch errors: exponential backoff with full
//! jitter, bounded by attempts and by elapsed time.

use std::time::{Duration, Instant};

use crate::error::ConfigError;

/// When and how often a transient error is retried.
///
/// Attempt `n` (counting from 1 for the first retry) sleeps a random time
/// in `0..=min(max_backoff, initial_backoff * 2^(n-1))` ("full jitter"), so
/// that many writers hitting one recovering server spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Total tries of one request, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff cap of the first retry.
    pub initial_backoff: Duration,
    /// Backoff cap of any retry.
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first try.
    pub max_elapsed: Duration,
}

/// Most tries of one request a policy may ask for.
const MAX_ATTEMPTS: u32 = 1000;
/// Longest single backoff a policy may ask for.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Longest time a policy may keep retrying one request.
const MAX_ELAPSED: Duration = Duration::from_secs(24 * 3600);

impl Default for RetryPolicy {
    /// 12 tries within 60 s, backoff from 100 ms up to 10 s: enough to ride
    /// out a server restart of a few seconds.
    fn default() -> Self {
        Self {
            max_attempts: 12,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// A policy with the given bounds. Refused with a [`ConfigError`]:
    /// zero or more than 1000 attempts, a backoff above one hour, a
    /// `max_elapsed` above a day, or `max_backoff < initial_backoff`.
    pub fn new(
        max_attempts: u32,
        initial_backoff: Duration,
        max_backoff: Duration,
        max_elapsed: Duration,
    ) -> Result<Self, ConfigError> {
        let policy = Self {
            max_attempts,
            initial_backoff,
            max_backoff,
            max_elapsed,
        };
        policy.check()?;
        Ok(policy)
    }

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(ConfigError::OutOfRange {
                var: "retry.max_attempts",
                value: self.max_attempts.to_string(),
                min: 1,
                max: MAX_ATTEMPTS as usize,
            });
        }
        for (var, value, max) in [
            ("retry.initial_backoff", self.initial_backoff, MAX_BACKOFF),
            ("retry.max_backoff", self.max_backoff, MAX_BACKOFF),
            ("retry.max_elapsed", self.max_elapsed, MAX_ELAPSED),
        ] {
            if value > max {
                return Err(ConfigError::Inconsistent(format!(
                    "{var} ({value:?}) is above its limit of {max:?}"
                )));
            }
        }
        if self.max_backoff < self.initial_backoff {
            return Err(ConfigError::Inconsistent(format!(
                "retry.max_backoff ({:?}) is below retry.initial_backoff ({:?})",
                self.max_backoff, self.initial_backoff
            )));
        }
        Ok(())
    }

    /// The sleep before retry number `retry` (1-based) of a request first
    /// tried at `started`, or `None` when the policy gives up.
    pub(crate) fn backoff(
        &self,
        retry: u32,
        started: Instant,
        rng: &mut Jitter,
    ) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let cap = self
            .initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff);
        let sleep = rng.up_to(cap);
        // Checked: the fields are public, so a policy may skip `check`.
        match started.elapsed().checked_add(sleep) {
            Some(end) if end <= self.max_elapsed => Some(sleep),
            _ => None,
        }
    }
}

/// A tiny xorshift generator for jitter; no need for a `rand` dependency.
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        Self(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniformly random duration in `0..=cap`.
    pub(crate) fn up_to(&mut self, cap: Duration) -> Duration {
        let nanos = cap.as_nanos().min(u64::MAX as u128) as u64;
        match nanos.checked_add(1) {
            None => Duration::from_nanos(self.next()),
            Some(1) => Duration::ZERO,
            Some(range) => Duration::from_nanos(self.next() % range),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_bounded_by_attempts() {
        let policy = RetryPolicy::new(
            4,
            Duration::from_millis(10),
            Duration::from_millis(25),
            Duration::from_secs(60),
        )
        .expect("valid policy");
        let mut rng = Jitter::new();
        let start = Instant::now();
        for retry in 1..4 {
            let sleep = policy
                .backoff(retry, start, &mut rng)
                .expect("retry allowed");
            assert!(sleep <= Duration::from_millis(25));
        }
        assert_eq!(policy.backoff(4, start, &mut rng), None);
    }

    #[test]
    fn huge_durations_neither_panic_nor_pass_the_check() {
        let mut rng = Jitter::new();
        // Before: `nanos + 1` overflowed for a cap of u64::MAX nanoseconds.
        let cap = Duration::from_nanos(u64::MAX);
        assert!(rng.up_to(cap) <= cap);
        assert!(rng.up_to(Duration::MAX) <= Duration::MAX);
        let absurd = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            max_elapsed: Duration::MAX,
        };
        // Unchecked (public fields): no panic, just bounded answers.
        let _ = absurd.backoff(1, Instant::now(), &mut rng);
        let _ = absurd.backoff(u32::MAX - 1, Instant::now(), &mut rng);
        for (initial, max, elapsed, var) in [
            (
                Duration::MAX,
                Duration::MAX,
                Duration::ZERO,
                "retry.initial_backoff",
            ),
            (
                Duration::ZERO,
                Duration::from_secs(3601),
                Duration::ZERO,
                "retry.max_backoff",
            ),
            (
                Duration::ZERO,
                Duration::ZERO,
                Duration::MAX,
                "retry.max_elapsed",
            ),
        ] {
            let err = RetryPolicy::new(3, initial, max, elapsed).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
        let err =
            RetryPolicy::new(u32::MAX, Duration::ZERO, Duration::ZERO, Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("retry.max_attempts"), "{err}");
    }

    #[test]
    fn zero_attempts_is_refused() {
        let err = RetryPolicy::new(0, Duration::ZERO, Duration::ZERO, Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("retry.max_attempts"));
    }
}

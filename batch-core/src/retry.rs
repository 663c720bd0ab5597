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

    /// A policy with the given bounds.
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
        if self.max_attempts == 0 {
            return Err(ConfigError::OutOfRange {
                var: "retry.max_attempts",
                value: "0".to_owned(),
                min: 1,
                max: u32::MAX as usize,
            });
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
        if started.elapsed() + sleep > self.max_elapsed {
            return None;
        }
        Some(sleep)
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
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next() % (nanos + 1))
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
    fn zero_attempts_is_refused() {
        let err = RetryPolicy::new(0, Duration::ZERO, Duration::ZERO, Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("retry.max_attempts"));
    }
}

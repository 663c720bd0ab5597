//! Test support for code built on batch-core (feature `testing`).

pub mod add_many;
#[cfg(feature = "http")]
pub mod authorization_probe;
pub mod block_on;
pub mod counts;
pub mod crash;
pub mod deadlock;
pub mod fake;
pub mod harness;

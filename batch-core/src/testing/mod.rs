//! Test support for code built on batch-core (feature `testing`).

pub mod crash;
pub mod fake;

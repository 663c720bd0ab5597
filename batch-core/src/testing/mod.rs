//! Test support for code built on batch-core (feature `testing`).

pub mod add_many;
pub mod counts;
pub mod crash;
pub mod fake;

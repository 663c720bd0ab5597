//! Test support for code built on batch-core (feature `testing`).

pub mod fake;

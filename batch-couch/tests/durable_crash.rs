//! The durable buffer against the real server: the conformance kit's
//! crash test (`test_support::kit::durable`), a producer killed with
//! SIGKILL at any moment and its log replayed by a new inserter, every
//! accepted item then stored exactly once.

mod common;

test_support::durable_crash!(common::Couch);

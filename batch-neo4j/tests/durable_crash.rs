//! The durable buffer against the real Bolt server: the conformance kit's
//! crash test (`test_support::kit::durable`), a producer killed with
//! SIGKILL at any moment and its log replayed by a new creator, every
//! accepted item then stored exactly once. Neo4j's producer alternates
//! node upserts and relationships (see `common`'s `Durable` impl).

mod common;

test_support::durable_crash!(common::Neo4j);

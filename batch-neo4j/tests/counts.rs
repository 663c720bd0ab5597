//! The counters against what the real server holds after mixed writes
//! (new items, items it holds already, an invalid one): the conformance
//! kit's (`test_support::kit::counts`).

mod common;

test_support::counts_match_the_server!(common::Neo4j);

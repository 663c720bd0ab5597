//! A paused server past the request timeout (the kit's `server_paused!`).
//! Its own test binary: it pauses the shared server.

mod common;

test_support::server_paused!(common::Neo4j);

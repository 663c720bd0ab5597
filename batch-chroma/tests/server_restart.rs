//! The server restarted mid-stream (the kit's `server_restart!`). Its own
//! test binary: it restarts the shared server.

mod common;

test_support::server_restart!(common::Chroma);

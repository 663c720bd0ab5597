//! Project automation for the uds3-batch workspace; never published.
//!
//! The library holds what more than one target needs:
//! - [`test_servers`]: where the test servers are, and how a test reaches,
//!   stops and starts them. The backends' tests and benches use it; they
//!   take `xtask = { path = "../xtask", default-features = false }` as a
//!   dev-dependency, which builds nothing but this module (std, and
//!   batch-core's `ServerUrl` for the servers' URLs).
//! - [`process`]: detached spawning, pid files, signals, liveness and log
//!   tails of server processes, for `cargo xtask services` and for the
//!   servers a test runs itself ([`test_servers::postgres`]).
//! - [`relay`]: a loopback TCP relay in front of a server that counts
//!   connections and can add a round trip (tests of "no retry", the
//!   benchmark's network latency).
//! - [`bolt`] (feature `cli`): the Bolt connection of the `xtask` binary's
//!   readiness and smoke checks and of the benchmark's raw Neo4j path.
//! - [`bench_args`] (feature `cli`): the command line of `cargo xtask
//!   bench`, which the `xtask` binary checks before it starts anything and
//!   `uds3-bench` parses again.
//! - [`workspace_root`].
//!
//! Targets: the `xtask` binary (`cargo xtask ...`) needs the feature `cli`
//! (on by default); `uds3-bench`, which `cargo xtask bench` runs, needs
//! the feature `bench`, which brings in every backend.

#[cfg(feature = "cli")]
pub mod bench_args;
#[cfg(feature = "cli")]
pub mod bolt;
pub mod process;
pub mod relay;
pub mod test_servers;

use std::path::{Path, PathBuf};

/// The workspace root (the parent of xtask's folder).
pub fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

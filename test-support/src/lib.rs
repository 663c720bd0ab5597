//! Test and bench tooling of the uds3-batch workspace; never published.
//!
//! The backends' tests and benches, `uds3-batch`'s tests, and the `xtask`
//! binary (which starts the servers) take what they share from here, so
//! that nothing depends on `xtask`: the arrows run from the tools down to
//! this crate, never back up. Small: std and batch-core's `ServerUrl`,
//! plus tokio for the kit.
//! - [`test_servers`]: where the test servers are, and how a test reaches,
//!   stops and starts them; [`test_servers::postgres`] runs a primary and
//!   standby pair of a test's own.
//! - [`process`]: detached spawning, pid files, signals, liveness and log
//!   tails of server processes.
//! - [`relay`]: a loopback TCP relay in front of a server that counts
//!   connections and turns, can add a round trip, and can cut a
//!   connection after a given answer.
//! - [`kit`] (feature `kit`): the backend conformance kit, behaviours
//!   every backend shares, written once.
//! - [`secrets`]: the password the backends' secrets tests hide, and
//!   their shared checks.
//! - [`workspace_root`].

#[cfg(feature = "kit")]
pub mod kit;
pub mod process;
pub mod relay;
pub mod secrets;
pub mod test_servers;

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

//! Project automation for the uds3-batch workspace; never published.
//!
//! The library holds what more than one target needs: [`bolt`], the Bolt
//! connection of the `xtask` binary's readiness and smoke checks and of
//! the benchmark's raw Neo4j path, and [`workspace_root`].
//!
//! Targets: the `xtask` binary (`cargo xtask ...`) needs the feature `cli`
//! (on by default); `uds3-bench`, which `cargo xtask bench` runs, needs
//! the feature `bench`, which brings in every backend.

#[cfg(feature = "cli")]
pub mod bolt;

use std::path::{Path, PathBuf};

/// The workspace root (the parent of xtask's folder).
pub fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

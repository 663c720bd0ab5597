//! Project automation for the uds3-batch workspace; never published.
//!
//! The library holds what more than one target needs: [`bolt`], the Bolt
//! connection that the `xtask` binary's readiness and smoke checks use.
//! The `xtask` binary (`cargo xtask ...`) needs the feature `cli` (on by
//! default).

#[cfg(feature = "cli")]
pub mod bolt;

//! Project automation for the uds3-batch workspace; never published.
//!
//! The library holds what more than one of its targets needs:
//! - [`test_servers`], [`process`], [`relay`] and [`workspace_root`]:
//!   re-exported from the `test-support` crate, where the backends' tests
//!   and benches take them from (none of them depends on xtask).
//! - [`bench_args`] (feature `bench-args`): the command line of `cargo xtask
//!   bench`, which the `xtask` binary checks before it starts anything and
//!   `uds3-bench` (a crate of its own, which `cargo xtask bench` runs)
//!   parses again.
//!
//! The `xtask` binary (`cargo xtask ...`) needs the feature `cli` (on by
//! default).

#[cfg(feature = "bench-args")]
pub mod bench_args;

pub use test_support::{process, relay, test_servers, workspace_root};

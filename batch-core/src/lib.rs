//! batch-core: the batching engine every uds3-batch backend shares.
#![doc = "(work in progress)"]

pub mod env;
pub mod error;

pub use error::ConfigError;

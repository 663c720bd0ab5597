//! The durable buffer as the engine sees it: present with the `durable`
//! feature, an empty type without it (so that the engine's code is the
//! same either way and a build without the feature carries nothing).

use std::sync::Arc;

use crate::codec::Codec;

#[cfg(feature = "durable")]
pub(crate) use crate::durable::{Journal, Refused};

/// Without the `durable` feature there is no journal: this type has no
/// value, and every method is unreachable.
#[cfg(not(feature = "durable"))]
pub(crate) enum Journal {}

#[cfg(not(feature = "durable"))]
impl Journal {
    pub(crate) fn resolve(&self, _: &[u64]) {
        match *self {}
    }
    pub(crate) fn failed(&self, _: u64, _: &str) {
        match *self {}
    }
    pub(crate) fn dead_letter(&self, _: &[(String, Vec<u8>)], _: &[u64]) -> std::io::Result<()> {
        match *self {}
    }
    pub(crate) fn batch_shipped(&self) {
        match *self {}
    }
    pub(crate) fn append(&self, _: &[u8]) -> Result<(u64, u64), Refused> {
        match *self {}
    }
    pub(crate) fn append_many<'a>(
        &self,
        _: impl IntoIterator<Item = &'a [u8]>,
    ) -> (std::ops::Range<u64>, u64, Option<Refused>) {
        match *self {}
    }
    pub(crate) fn accept(&self, _: u64) -> std::io::Result<()> {
        match *self {}
    }
    pub(crate) fn forget(&self, _: u64) {
        match *self {}
    }
    pub(crate) fn wait_for_room(&self, _: u64, _: std::time::Duration) {
        match *self {}
    }
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        match *self {}
    }
}

/// Without the `durable` feature nothing is ever refused: the variants
/// are never made, only matched.
#[cfg(not(feature = "durable"))]
#[derive(Debug)]
#[allow(dead_code)]
pub(crate) enum Refused {
    Full(Full),
    Io(std::io::Error),
}

/// Without the `durable` feature nothing is ever full.
#[cfg(not(feature = "durable"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Full {
    pub(crate) bytes: u64,
    pub(crate) limit: u64,
}

/// The journal and how its items are encoded, shared by the batcher and
/// its writers.
pub(crate) struct Durable<T> {
    pub(crate) journal: Arc<Journal>,
    pub(crate) codec: Codec<T>,
}

impl<T> Durable<T> {
    /// Writes failed items nobody will collect to the dead letters (and
    /// resolves `seqs`); says so in the log, and where it could not.
    pub(crate) fn bury<E: std::fmt::Display>(
        &self,
        name: &str,
        items: &[crate::FailedItem<T, E>],
        seqs: &[u64],
    ) -> bool {
        let letters: Vec<(String, Vec<u8>)> = items
            .iter()
            .filter_map(|f| {
                (self.codec.encode)(&f.item)
                    .ok()
                    .map(|bytes| (f.error.to_string(), bytes))
            })
            .collect();
        match self.journal.dead_letter(&letters, seqs) {
            Ok(()) => {
                tracing::warn!(batcher = %name, items = letters.len(), "failed items nobody collected went to the dead letters");
                true
            }
            Err(e) => {
                tracing::error!(batcher = %name, items = letters.len(), error = %e, "cannot write the dead letters; the items stay in the durable buffer");
                false
            }
        }
    }
}

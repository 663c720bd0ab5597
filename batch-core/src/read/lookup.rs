//! `Lookup`: what a batch read found and what it did not.

use std::collections::HashMap;

/// The answer of a batch read: every distinct id asked for is either in
/// `found` or in `missing`, never in both.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Lookup<T> {
    /// The ids the store holds, with what they read as.
    pub found: HashMap<String, T>,
    /// The ids the store does not hold, in the order they were asked for
    /// (each once).
    pub missing: Vec<String>,
    /// Requests this read sent, retries included.
    pub requests: u64,
}

impl<T> Lookup<T> {
    pub(crate) fn new() -> Self {
        Self {
            found: HashMap::new(),
            missing: Vec::new(),
            requests: 0,
        }
    }

    /// What `id` read as, if the store holds it.
    pub fn get(&self, id: &str) -> Option<&T> {
        self.found.get(id)
    }

    /// Whether the store holds `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.found.contains_key(id)
    }

    /// Whether every id asked for was found.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

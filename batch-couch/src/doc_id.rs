//! Client-side document ids: 128 random bits as 32 lowercase hex digits,
//! like CouchDB's own `random` uuids.
//!
//! Ids are assigned before sending so that every `_bulk_docs` result can be
//! matched to its document by id, and so that a document handed back after
//! a failure keeps its id (adding it again cannot create a duplicate).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// Two independently, randomly keyed SipHash instances per thread (std
    /// seeds `RandomState` from the OS) and a counter that makes every input
    /// unique: 128 unpredictable bits per id without a dependency.
    static GENERATOR: (RandomState, RandomState, Cell<u64>) =
        (RandomState::new(), RandomState::new(), Cell::new(0));
}

/// A new random id: 32 lowercase hex digits.
pub(crate) fn random_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    GENERATOR.with(|(a, b, counter)| {
        let n = counter.get().wrapping_add(1);
        counter.set(n);
        let half = |state: &RandomState| {
            let mut hasher = state.build_hasher();
            hasher.write_u64(n);
            hasher.write_u128(nanos);
            hasher.finish()
        };
        format!("{:016x}{:016x}", half(a), half(b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_32_hex_digits_and_distinct() {
        let ids: HashSet<String> = (0..10_000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(10) {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn threads_get_distinct_ids() {
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..1000).map(|_| random_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for id in h.join().unwrap() {
                assert!(all.insert(id));
            }
        }
    }
}

//! The batch-reader contract against a real server: ids found, missing and
//! asked twice, in chunks of the reader's size, values read back as
//! written; more ids than one request takes; an empty id refused before
//! any request.

use batch_core::BatcherSettings;
use batch_core::read::{BatchReader, ReadError, ReadSource};

use super::{Backend, write};

/// A backend whose items can be read back by id ([`Backend::item`]'s ids
/// are `{prefix}{i}`).
pub trait Readable: Backend {
    /// Where the reader reads: the target's collection, database, table
    /// or label.
    type Source: ReadSource;
    /// The read source of `target`.
    fn source(target: &Self::Target) -> Self::Source;
    /// Asserts that `value`, read back, holds what item `i` wrote.
    fn assert_read_back(value: &<Self::Source as ReadSource>::Value, i: usize);
}

/// Declares the batch-reader tests for backend `$backend` (a type
/// implementing [`Readable`]) in the calling test file.
#[macro_export]
macro_rules! batch_reader_contract {
    ($backend:ty) => {
        #[test]
        fn found_missing_and_duplicate_ids_in_chunks() {
            $crate::kit::reading::found_missing_and_duplicate_ids_in_chunks::<$backend>();
        }

        #[test]
        fn more_ids_than_one_request_takes_go_in_several() {
            $crate::kit::reading::more_ids_than_one_request_takes_go_in_several::<$backend>();
        }

        #[test]
        fn an_empty_id_is_refused_before_any_request() {
            $crate::kit::reading::an_empty_id_is_refused_before_any_request::<$backend>();
        }
    };
}

/// 30 items stored, read with chunks of 7: 20 distinct ids asked (10
/// stored, 10 not) plus 3 asked twice.
pub fn found_missing_and_duplicate_ids_in_chunks<B: Readable>() {
    let target = B::fresh("read");
    write::<B>(&target, "r", 0..30, BatcherSettings::default());
    let reader = BatchReader::new(B::source(&target))
        .with_chunk_size(7)
        .expect("chunk size");
    let mut ids: Vec<String> = (20..35).map(|i| format!("r{i}")).collect();
    ids.extend((0..5).map(|i| format!("absent-{i}")));
    ids.extend(["r20", "absent-1", "r34"].map(String::from));
    let values = reader.get_many(&ids).expect("read");
    assert_eq!(values.found.len(), 10, "r20..r29 are stored");
    for i in 20..30 {
        B::assert_read_back(values.get(&format!("r{i}")).expect("found"), i);
    }
    let mut missing: Vec<String> = (30..35).map(|i| format!("r{i}")).collect();
    missing.extend((0..5).map(|i| format!("absent-{i}")));
    assert_eq!(values.missing, missing, "each once, in the order asked");
    assert_eq!(values.requests, 3, "20 distinct ids, 7 per request");

    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 10);
    assert_eq!(exists.missing, missing);
    assert_eq!(reader.requests_sent(), 6);
}

/// Two and a half requests' worth of ids, 300 of them stored.
pub fn more_ids_than_one_request_takes_go_in_several<B: Readable>() {
    let target = B::fresh("many");
    write::<B>(&target, "m", 0..300, BatcherSettings::default());
    let reader = BatchReader::new(B::source(&target));
    let per_request = reader.chunk_size();
    let asked = per_request * 2 + per_request / 2;
    let ids: Vec<String> = (0..asked).map(|i| format!("m{i}")).collect();
    let exists = reader.exists_many(&ids).expect("exists");
    assert_eq!(exists.found.len(), 300);
    assert_eq!(exists.missing.len(), asked - 300);
    assert_eq!(exists.missing.first().map(String::as_str), Some("m300"));
    assert_eq!(exists.requests, 3, "{per_request} ids per request");
}

/// An empty id is refused with its index, and nothing is sent.
pub fn an_empty_id_is_refused_before_any_request<B: Readable>() {
    let reader = BatchReader::new(B::source(&B::fresh("bad-id")));
    let err = reader
        .exists_many(&["r0", "r1", ""])
        .expect_err("an empty id");
    assert!(
        matches!(err, ReadError::InvalidId { index: 2, .. }),
        "{err}"
    );
    assert_eq!(reader.requests_sent(), 0);
}

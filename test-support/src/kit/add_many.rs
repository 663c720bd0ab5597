//! `add_many` and `add_many_async` against a real server: the items `add`
//! would refuse come back by their index, unchanged and with `add`'s
//! error; every other item is written, in the batches `add` in a loop
//! would send, and only those are on the server.

use std::time::Duration;

use batch_core::Stats;
use batch_core::read::BatchReader;
use batch_core::testing::add_many::{assert_refused_as_add, assert_written_as_add};

use super::reading::Readable;
use super::{Backend, batches_of, count_async, fresh_async};

/// Declares the `add_many` tests for backend `$backend` (a type
/// implementing [`Readable`]) in the calling test file; needs `tokio` with
/// the `macros` and `rt-multi-thread` features among its dev-dependencies.
#[macro_export]
macro_rules! add_many_contract {
    ($backend:ty) => {
        #[test]
        fn add_many_hands_back_the_invalid_items_by_index_and_writes_the_rest() {
            $crate::kit::add_many::hands_back_the_invalid_by_index_and_writes_the_rest::<$backend>(
            );
        }

        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn add_many_async_writes_from_a_runtime() {
            $crate::kit::add_many::async_writes_from_a_runtime::<$backend>().await;
        }
    };
}

/// Item `i` of `prefix`, invalid if `i` is in `bad`.
fn item_or_invalid<B: Backend>(
    target: &B::Target,
    prefix: &str,
    i: usize,
    bad: &[usize],
) -> <B::Sink as batch_core::Sink>::Item {
    if bad.contains(&i) {
        B::invalid_item(target, prefix, i)
    } else {
        B::item(target, prefix, i)
    }
}

/// 250 items in batches of 100, two of them invalid (one of each reason
/// the backend gives): those two come back, the 248 others are written in
/// three requests, and the server holds those and not the two.
pub fn hands_back_the_invalid_by_index_and_writes_the_rest<B: Readable>() {
    let target = B::fresh("add-many");
    let inserter = B::inserter(&target, batches_of(100));
    let batcher = B::batcher(&inserter);
    let bad = [17, 200];
    let item = |i| item_or_invalid::<B>(&target, "m", i, &bad);
    let items: Vec<_> = (0..250).map(item).collect();
    let given: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    let back = batcher.add_many(items).expect_err("two items are invalid");
    assert_refused_as_add(&back, &bad, |i| {
        let single = batcher.add(item(i));
        single.expect_err("add refuses it too").error.to_string()
    });
    for (index, failed) in &back.failed {
        let handed_back = format!("{:?}", failed.item);
        assert_eq!(handed_back, given[*index], "the item comes back unchanged");
    }
    let report = batcher.close(Duration::from_secs(60));
    let stats = batcher.stats();
    // 100, 100 and 48 items; two refused by add_many, two by add.
    assert_written_as_add(&report, &Stats::default(), &stats, (248, 3));
    assert_eq!(stats.total_refused, 4);
    assert_eq!(B::count(&target), 248);
    let reader = BatchReader::new(B::source(&target));
    let stored = reader
        .exists_many(&["m0", "m16", "m17", "m18", "m200", "m249"])
        .expect("exists");
    assert_eq!(
        stored.missing,
        ["m17", "m200"],
        "the refused are not stored"
    );
}

/// `add_many_async` on a multi-thread runtime: 25 items in batches of 10,
/// one invalid, handed back by its index; the 24 others are written.
pub async fn async_writes_from_a_runtime<B: Backend>() {
    let target = fresh_async::<B>("add-many-async").await;
    let inserter = B::inserter(&target, batches_of(10));
    let items: Vec<_> = (0..25)
        .map(|i| item_or_invalid::<B>(&target, "a", i, &[4]))
        .collect();
    let back = B::batcher(&inserter)
        .add_many_async(items)
        .await
        .expect_err("one item is invalid");
    assert_eq!(back.indexes(), [4]);
    let report = B::batcher(&inserter).close_async().await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.written, 24);
    assert_eq!(count_async::<B>(&target).await, 24);
}

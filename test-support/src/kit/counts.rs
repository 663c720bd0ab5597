//! The batcher's counters against what the server holds after mixed
//! writes: new items count as written, items whose key the server holds
//! already with the same values as conflicts, invalid ones as refused,
//! and the written ones are exactly what the server gained (batch-core's
//! one meaning of written and conflict, `batch_core::Stats`).

use batch_core::testing::counts::assert_counted;

use super::{Backend, batches_of};

/// Declares the counter tests for backend `$backend` (a type
/// implementing [`Backend`]) in the calling test file.
#[macro_export]
macro_rules! counts_match_the_server {
    ($backend:ty) => {
        #[test]
        fn written_and_conflicts_match_what_the_server_holds() {
            $crate::kit::counts::written_and_conflicts_match_the_server::<$backend>();
        }
    };
}

/// 300 new items; then 100 of them again (as they were), 100 new ones
/// among them and one invalid item: the counters say 400 written, 100
/// conflicts, 1 refused, none failed, and the server holds 400.
pub fn written_and_conflicts_match_the_server<B: Backend>() {
    let target = B::fresh("counts");
    let inserter = B::inserter(&target, batches_of(50));
    let batcher = B::batcher(&inserter);
    let add_all = |range: std::ops::Range<usize>| {
        for i in range {
            batcher.add(B::item(&target, "c", i)).expect("add");
        }
        let report = batcher.flush();
        assert!(report.is_complete(), "{report:?}");
    };
    add_all(0..300);
    assert_counted(&batcher.stats(), 300, 0, "new items");
    assert_eq!(B::count(&target), 300);

    let refused = batcher.add(B::invalid_item(&target, "c", 400));
    assert!(refused.is_err(), "an invalid item is refused");
    add_all(200..400);
    let stats = batcher.stats();
    assert_counted(&stats, 400, 100, "100 held already, 100 new");
    assert_eq!(stats.total_refused, 1);
    assert_eq!(
        B::count(&target),
        stats.total_added,
        "written is what the server holds"
    );
}

//! `join`: two pieces of blocking work at once, without panicking when no
//! thread can be started.

use std::sync::{Mutex, PoisonError};

/// Runs `a` on this thread and `b` on a scoped thread beside it, and
/// returns both answers. If no thread can be started, `b` runs here after
/// `a`: slower, never lost. A panic in either is passed on.
pub(crate) fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    let slot = Mutex::new(Some(b));
    let take = || slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    let (a, b_on_thread) = std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("uds3-batch-join".to_owned())
            .spawn_scoped(scope, || take().map(|b| b()));
        let a = a();
        let b = match handle {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        (a, b)
    });
    match (b_on_thread, take()) {
        (Some(b), _) => (a, b),
        (None, Some(b)) => (a, b()),
        // The thread either took `b` and answered, or never ran.
        (None, None) => unreachable!("join: b neither ran nor stayed"),
    }
}

/// Runs the four at once (three on threads beside this one), as
/// [`join`] does.
pub(crate) fn join4<A: Send, B: Send, C: Send, D: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
    c: impl FnOnce() -> C + Send,
    d: impl FnOnce() -> D + Send,
) -> (A, B, C, D) {
    let ((a, b), (c, d)) = join(|| join(a, b), || join(c, d));
    (a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn both_run_and_b_on_another_thread() {
        let here = std::thread::current().id();
        let (a, b) = join(
            || std::thread::current().id(),
            || std::thread::current().id(),
        );
        assert_eq!(a, here);
        assert_ne!(b, here);
    }
}

//! A minimal executor for tests: polls a future on the calling thread and
//! parks between polls, with no runtime at all, so a future that waits
//! must do so by returning `Pending` and waking, never by blocking or by
//! needing tokio.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Wakes by unparking the polling thread, and counts wakes.
pub struct ThreadWaker {
    thread: std::thread::Thread,
    wakes: AtomicUsize,
}

impl ThreadWaker {
    /// How often it was woken.
    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// A waker for the current thread, and its counter.
pub fn waker() -> (Arc<ThreadWaker>, Waker) {
    let w = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        wakes: AtomicUsize::new(0),
    });
    (Arc::clone(&w), Waker::from(w))
}

/// Polls `fut` on this thread, parking between polls.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let (_, waker) = waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

//! Running blocking work on a thread of the library's own.

/// Runs `work` on a short-lived thread named `name` and waits for it.
///
/// A backend's blocking I/O (a connect, a schema statement) and any runtime
/// a driver needs then never run on the caller's thread, which may be an
/// async runtime's worker: blocking on, or dropping, a runtime there panics.
/// The caller's thread still waits, as a blocking call does. A panic in
/// `work` comes back as an error naming the thread, never as a panic; so
/// does a thread that cannot be started.
pub fn on_own_thread<T: Send>(name: &str, work: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, work)?;
        worker.join().map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            std::io::Error::other(format!("thread {name} panicked: {message}"))
        })
    })
}

/// Runs `work` on a thread named `name` and returns a future of its
/// answer: [`on_own_thread`] for async code, waiting without blocking the
/// executor (any executor: the thread wakes the future through a
/// `futures-channel` oneshot). The thread starts now. Dropping the future
/// abandons the answer, not the work. A panic in `work`, or a thread that
/// cannot be started, comes back as an error.
pub fn on_own_thread_async<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = std::io::Result<T>> + Send + 'static {
    let (tx, rx) = futures_channel::oneshot::channel();
    let thread = name.to_owned();
    let started = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // The caller may have stopped waiting: nothing to do then.
            let _ = tx.send(work());
        })
        .map(drop);
    async move {
        started?;
        rx.await.map_err(|_| {
            std::io::Error::other(format!(
                "thread {thread} ended without an answer (it panicked)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::on_own_thread;

    #[test]
    fn runs_elsewhere_and_turns_a_panic_into_an_error() {
        let caller = std::thread::current().id();
        let ran_on = on_own_thread("t-io", || std::thread::current().id()).expect("runs");
        assert_ne!(ran_on, caller);
        let borrowed = String::from("borrowed, not 'static");
        assert_eq!(on_own_thread("t-io", || borrowed.len()).expect("runs"), 21);
        let err = on_own_thread("t-io", || -> u8 { panic!("boom") }).unwrap_err();
        assert!(err.to_string().contains("t-io panicked: boom"), "{err}");
    }
}

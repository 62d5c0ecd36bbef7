//! The tokio runtime the bindings own.
//!
//! Sockets, timers and each client's driver task belong to the runtime they were created on,
//! so everything runs on one multi-thread runtime that lives as long as the process and is
//! started on first use. The async methods of the API run their work there with [`run`]
//! (whoever polls the foreign future only waits for it); listener callbacks run on its
//! blocking pool.

use std::{future::Future, sync::OnceLock};

use tokio::{
    runtime::{Builder, Handle, Runtime},
    task::JoinHandle,
};

use crate::error::LimeError;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Two workers are plenty for a client's I/O: nothing blocks them (callbacks run on the
/// blocking pool).
const WORKER_THREADS: usize = 2;

fn build() -> Result<Runtime, String> {
    Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("lime-ffi")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// The runtime, started on first use.
pub(crate) fn handle() -> Result<Handle, LimeError> {
    match RUNTIME.get_or_init(build) {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(e) => Err(LimeError::Transport { msg: format!("cannot start the tokio runtime: {e}") }),
    }
}

/// Aborts the task when dropped: a foreign caller that stops waiting (a cancelled coroutine
/// or Swift task) cancels the work.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `work` on the runtime and waits for its result; dropping the returned future aborts
/// the work.
pub(crate) async fn run<T, F>(work: F) -> Result<T, LimeError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, LimeError>> + Send + 'static,
{
    let mut task = AbortOnDrop(handle()?.spawn(work));
    match (&mut task.0).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(LimeError::Transport { msg: format!("internal error: {e}") }),
        Err(_) => Err(LimeError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_for_every_caller() {
        let a = handle().unwrap();
        let b = handle().unwrap();
        assert_eq!(a.id(), b.id());
        let name = a.block_on(async {
            tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await
        });
        assert_eq!(name.unwrap().as_deref(), Some("lime-ffi"));
    }

    #[test]
    fn run_works_on_the_runtime_from_any_executor() {
        // Polled by a plain executor (no tokio context), as a foreign future would be.
        let name = futures_lite_block_on(run(async {
            Ok(std::thread::current().name().map(str::to_owned))
        }));
        assert_eq!(name.unwrap().as_deref(), Some("lime-ffi"));
    }

    #[test]
    fn dropping_the_caller_aborts_the_work() {
        let (started_tx, started) = std::sync::mpsc::channel();
        let (_never, wait) = tokio::sync::oneshot::channel::<()>();
        let (done_tx, done) = tokio::sync::oneshot::channel::<()>();
        let work = run(async move {
            // `done_tx` is dropped when the task is aborted.
            let _done = done_tx;
            let _ = started_tx.send(());
            let _ = wait.await;
            Ok(())
        });
        // Poll once so the task starts, then drop the caller's future.
        let mut work = Box::pin(work);
        let waker = std::task::Waker::noop();
        let _ = work.as_mut().poll(&mut std::task::Context::from_waker(waker));
        started.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        drop(work);
        let ended = handle().unwrap().block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), done).await
        });
        assert!(matches!(ended, Ok(Err(_))), "the task was aborted and dropped its sender");
    }

    /// Polls a future to completion on this thread, outside any tokio runtime.
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        let mut future = Box::pin(future);
        let thread = std::thread::current();
        let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(thread)));
        let mut cx = std::task::Context::from_waker(&waker);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            assert!(std::time::Instant::now() < deadline, "the future did not complete in 10 s");
            if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park_timeout(std::time::Duration::from_millis(100));
        }
    }

    struct Unpark(std::thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
}

//! [`TaskHandle`]: the lifetime of a background task started for the application.

use tokio::sync::watch;

/// A running background task, such as a [`subscribe`](crate::LimeClient::subscribe)
/// listener. The task stops when [`cancel`](Self::cancel) is called or when the handle is
/// dropped, so keep a reference for as long as the task should run (in Kotlin, a handle that
/// is garbage collected stops its task).
#[derive(Debug, uniffi::Object)]
pub struct TaskHandle {
    cancel: watch::Sender<bool>,
}

/// The task's side of a [`TaskHandle`]: resolves once the handle is cancelled or dropped.
/// Dropping it marks the task finished.
#[derive(Debug)]
pub(crate) struct CancelSignal(watch::Receiver<bool>);

impl TaskHandle {
    /// A handle and the signal its task selects on.
    pub(crate) fn new() -> (Self, CancelSignal) {
        let (cancel, signal) = watch::channel(false);
        (Self { cancel }, CancelSignal(signal))
    }
}

impl CancelSignal {
    /// Waits until the task is to stop.
    pub(crate) async fn cancelled(&mut self) {
        // An error means the handle is gone, which cancels too.
        let _ = self.0.wait_for(|cancelled| *cancelled).await;
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the task (idempotent).
    pub fn cancel(&self) {
        self.cancel.send_replace(true);
    }

    /// True once the task has ended (on its own or cancelled).
    pub fn is_finished(&self) -> bool {
        self.cancel.is_closed()
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::future::pending;

    use super::*;

    /// Waits for the spawned task, failing the test instead of hanging if it never stops.
    async fn stopped(running: tokio::task::JoinHandle<()>) {
        tokio::time::timeout(std::time::Duration::from_secs(10), running)
            .await
            .expect("the task did not stop within 10 s")
            .expect("the task panicked");
    }

    async fn task(mut signal: CancelSignal) {
        tokio::select! {
            () = signal.cancelled() => {}
            () = pending() => {}
        }
    }

    #[tokio::test]
    async fn cancel_stops_the_task() {
        let (handle, signal) = TaskHandle::new();
        let running = tokio::spawn(task(signal));
        assert!(!handle.is_finished());
        handle.cancel();
        handle.cancel();
        stopped(running).await;
        assert!(handle.is_finished());
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_task() {
        let (handle, signal) = TaskHandle::new();
        let running = tokio::spawn(task(signal));
        drop(handle);
        stopped(running).await;
    }

    #[test]
    fn a_task_that_ends_on_its_own_is_finished() {
        let (handle, signal) = TaskHandle::new();
        drop(signal);
        assert!(handle.is_finished());
    }
}

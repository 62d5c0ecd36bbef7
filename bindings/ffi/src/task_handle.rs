//! [`TaskHandle`]: the lifetime of a background task started for the application.

use tokio::task::AbortHandle;

/// A running background task, such as a [`subscribe`](crate::LimeClient::subscribe)
/// listener. The task stops when [`cancel`](Self::cancel) is called or when the handle is
/// dropped, so keep a reference for as long as the task should run (in Kotlin, a handle that
/// is garbage collected stops its task).
#[derive(Debug, uniffi::Object)]
pub struct TaskHandle {
    task: AbortHandle,
}

impl TaskHandle {
    /// The handle of a task spawned on the library's runtime.
    pub(crate) fn new(task: AbortHandle) -> Self {
        Self { task }
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Stops the task (idempotent).
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// True once the task has ended (on its own or cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::{future::pending, time::Duration};

    use super::*;

    /// Waits until the task behind `handle` has ended, failing instead of hanging.
    async fn finished(handle: &TaskHandle) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while !handle.is_finished() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the task did not stop within 10 s");
    }

    #[tokio::test]
    async fn cancel_stops_the_task() {
        let handle = TaskHandle::new(tokio::spawn(pending::<()>()).abort_handle());
        assert!(!handle.is_finished());
        handle.cancel();
        handle.cancel();
        finished(&handle).await;
    }

    #[tokio::test]
    async fn dropping_the_handle_stops_the_task() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _alive = tx;
            pending::<()>().await;
        });
        drop(TaskHandle::new(task.abort_handle()));
        let ended = tokio::time::timeout(Duration::from_secs(10), rx).await;
        assert!(matches!(ended, Ok(Err(_))), "the task was dropped");
        assert!(task.await.unwrap_err().is_cancelled());
    }

    #[tokio::test]
    async fn a_task_that_ends_on_its_own_is_finished() {
        let handle = TaskHandle::new(tokio::spawn(async {}).abort_handle());
        finished(&handle).await;
    }
}

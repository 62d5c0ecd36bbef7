//! The tokio runtime of the Python *server* (`_lime.Server` runs `lime::server`), shut down at
//! interpreter exit. Client connections do not use it: they run on the asyncio loop
//! (`driver.rs`), so a client-only program starts no tokio thread.
//!
//! The stock pyo3-async-runtimes runtime is `'static` and cannot be stopped before the
//! interpreter finalizes, which crashes a few percent of exits (TOOLCHAIN §1). This one lives
//! in a mutex; `_shutdown` (registered with `atexit`) takes it out and shuts it down while
//! detached from the interpreter, so no worker thread outlives finalization.

use std::{
    future::Future,
    pin::Pin,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use pyo3::prelude::*;
use pyo3_async_runtimes::{
    generic::{ContextExt, Runtime},
    TaskLocals,
};

static RUNTIME: Mutex<Option<tokio::runtime::Runtime>> = Mutex::new(None);
static HANDLE: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();

/// The runtime handle (created on first use). `None` if the runtime could not start.
pub(crate) fn handle() -> Option<&'static tokio::runtime::Handle> {
    HANDLE
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("lime-python")
                .enable_all()
                .build()
                .ok()?;
            let handle = rt.handle().clone();
            *RUNTIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rt);
            Some(handle)
        })
        .as_ref()
}

tokio::task_local! {
    static TASK_LOCALS: std::cell::OnceCell<TaskLocals>;
}

/// The runtime as pyo3-async-runtimes sees it.
pub(crate) struct Managed;

impl Runtime for Managed {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F: Future<Output = ()> + Send + 'static>(fut: F) -> Self::JoinHandle {
        match handle() {
            Some(h) => h.spawn(fut),
            // Interpreter exiting: run nothing, hand back an already finished task.
            None => {
                let rt = tokio::runtime::Builder::new_current_thread().build();
                match rt {
                    Ok(rt) => rt.spawn(async {}),
                    Err(_) => std::process::abort(),
                }
            }
        }
    }

    fn spawn_blocking<F: FnOnce() + Send + 'static>(f: F) -> Self::JoinHandle {
        match handle() {
            Some(h) => h.spawn_blocking(f),
            None => Self::spawn(async {}),
        }
    }
}

impl ContextExt for Managed {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}

/// Turns a Rust future into a Python awaitable running on the extension runtime.
pub(crate) fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    pyo3_async_runtimes::generic::future_into_py::<Managed, _, T>(py, fut)
}

/// Stops the runtime (registered with `atexit`).
#[pyfunction]
pub(crate) fn _shutdown(py: Python<'_>) {
    let rt = RUNTIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    if let Some(rt) = rt {
        py.detach(|| rt.shutdown_timeout(Duration::from_secs(2)));
    }
}

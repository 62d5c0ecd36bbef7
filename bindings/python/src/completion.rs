//! `Completion`: the awaitable `process_command_async` waits on, an asyncio-compatible future
//! that the connection can complete *and* wake its task in the same event-loop turn.
//!
//! An `asyncio.Future` resolved while the loop handles a read schedules its task's wake-up with
//! `loop.call_soon`, so the awaiting coroutine resumes one event-loop turn later (on asyncio's
//! own loop a second `epoll_wait` and a pass through `_run_once`). A `Completion` settled by the
//! connection while it handles a read or a timer (not while a task runs) hands its callbacks to
//! the connection instead, which calls them (`context.run(callback, completion)`, as a
//! `Handle` would) once the read is handled: after the deliveries' callbacks and their writes,
//! so the order the user sees is the same, one loop turn sooner. Settled any other way
//! (`set_result` from Python, `cancel`, or by the connection outside a read), its callbacks
//! are scheduled with `loop.call_soon`, as a `Future`'s are.
//!
//! It follows the protocol asyncio's tasks use for foreign futures (`_asyncio_future_blocking`,
//! `get_loop`, `add_done_callback` with a context, `result`, `cancel`) and the `Future` methods
//! callers use (`done`, `cancelled`, `exception`, `set_result`, `set_exception`,
//! `remove_done_callback`), so `asyncio.isfuture` holds and `await`, `asyncio.wait_for`,
//! `gather` and task cancellation work on it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::{
    exceptions::{PyStopIteration, PyTypeError},
    gc::PyVisit,
    intern,
    prelude::*,
    types::{PyDict, PyType},
    PyTraverseError,
};

/// A done-callback and the context it runs in.
pub(crate) type Callback = (Py<PyAny>, Option<Py<PyAny>>);

enum Outcome {
    Pending,
    Value(Py<PyAny>),
    Error(Py<PyAny>),
    Cancelled(Option<Py<PyAny>>),
}

struct Inner {
    outcome: Outcome,
    blocking: bool,
    callbacks: Vec<Callback>,
}

/// See the module documentation and `_lime.pyi`.
#[pyclass(module = "lime_python._lime", frozen)]
pub(crate) struct Completion {
    event_loop: Py<PyAny>,
    inner: Mutex<Inner>,
}

fn asyncio_error(py: Python<'_>, name: &str, args: Option<Py<PyAny>>) -> PyErr {
    let made = py.import("asyncio").and_then(|m| {
        let class = m.getattr(name)?;
        match args {
            Some(arg) => class.call1((arg,)),
            None => class.call0(),
        }
    });
    match made {
        Ok(error) => PyErr::from_value(error),
        Err(e) => e,
    }
}

impl Completion {
    pub(crate) fn new(event_loop: Py<PyAny>) -> Self {
        Self {
            event_loop,
            inner: Mutex::new(Inner {
                outcome: Outcome::Pending,
                blocking: false,
                callbacks: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Settles a pending completion; returns its callbacks for the caller to run or schedule
    /// (None when it was already done: nothing changes).
    pub(crate) fn settle(&self, value: Result<Py<PyAny>, Py<PyAny>>) -> Option<Vec<Callback>> {
        let mut inner = self.lock();
        if !matches!(inner.outcome, Outcome::Pending) {
            return None;
        }
        inner.outcome = match value {
            Ok(value) => Outcome::Value(value),
            Err(error) => Outcome::Error(error),
        };
        Some(std::mem::take(&mut inner.callbacks))
    }

    /// Schedules callbacks with `loop.call_soon` (what a `Future` does).
    pub(crate) fn schedule(slf: &Bound<'_, Self>, callbacks: Vec<Callback>) -> PyResult<()> {
        let py = slf.py();
        let call_soon = slf.get().event_loop.bind(py).getattr(intern!(py, "call_soon"))?;
        for (callback, context) in callbacks {
            match context {
                Some(context) => {
                    let kwargs = PyDict::new(py);
                    kwargs.set_item(intern!(py, "context"), context)?;
                    call_soon.call((callback, slf), Some(&kwargs))?;
                }
                None => {
                    call_soon.call1((callback, slf))?;
                }
            }
        }
        Ok(())
    }

    /// Calls callbacks now, each in its context (what the `Handle` `call_soon` makes would do).
    pub(crate) fn run(slf: &Bound<'_, Self>, callbacks: Vec<Callback>) -> PyResult<()> {
        let py = slf.py();
        let mut callbacks = callbacks.into_iter();
        while let Some((callback, context)) = callbacks.next() {
            let called = match &context {
                Some(context) => context.call_method1(py, intern!(py, "run"), (&callback, slf)),
                None => callback.call1(py, (slf,)),
            };
            if let Err(error) = called {
                if error.is_instance_of::<pyo3::exceptions::PyException>(py) {
                    // as the loop reports an exception raised by a callback
                    let report = PyDict::new(py);
                    report.set_item("message", "Exception in callback of a lime-python command")?;
                    report.set_item("exception", error.value(py))?;
                    slf.get().event_loop.call_method1(
                        py,
                        intern!(py, "call_exception_handler"),
                        (report,),
                    )?;
                } else {
                    // SystemExit, KeyboardInterrupt: the rest still wake, later
                    Self::schedule(slf, callbacks.collect())?;
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    fn finish(slf: &Bound<'_, Self>, outcome: Outcome) -> PyResult<bool> {
        let callbacks = {
            let mut inner = slf.get().lock();
            if !matches!(inner.outcome, Outcome::Pending) {
                return Ok(false);
            }
            inner.outcome = outcome;
            std::mem::take(&mut inner.callbacks)
        };
        Self::schedule(slf, callbacks)?;
        Ok(true)
    }
}

#[pymethods]
impl Completion {
    /// asyncio's protocol for futures: True while a task waits on it.
    #[getter(_asyncio_future_blocking)]
    fn get_blocking(&self) -> bool {
        self.lock().blocking
    }

    #[setter(_asyncio_future_blocking)]
    fn set_blocking(&self, value: bool) {
        self.lock().blocking = value;
    }

    fn get_loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.event_loop.clone_ref(py)
    }

    fn done(&self) -> bool {
        !matches!(self.lock().outcome, Outcome::Pending)
    }

    fn cancelled(&self) -> bool {
        matches!(self.lock().outcome, Outcome::Cancelled(_))
    }

    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let inner = self.lock();
        match &inner.outcome {
            Outcome::Value(value) => Ok(value.clone_ref(py)),
            Outcome::Error(error) => Err(PyErr::from_value(error.bind(py).clone())),
            Outcome::Cancelled(message) => {
                let message = message.as_ref().map(|m| m.clone_ref(py));
                drop(inner);
                Err(asyncio_error(py, "CancelledError", message))
            }
            Outcome::Pending => {
                drop(inner);
                Err(asyncio_error(
                    py,
                    "InvalidStateError",
                    Some("Result is not set.".into_pyobject(py)?.into_any().unbind()),
                ))
            }
        }
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let inner = self.lock();
        match &inner.outcome {
            Outcome::Value(_) => Ok(None),
            Outcome::Error(error) => Ok(Some(error.clone_ref(py))),
            Outcome::Cancelled(message) => {
                let message = message.as_ref().map(|m| m.clone_ref(py));
                drop(inner);
                Err(asyncio_error(py, "CancelledError", message))
            }
            Outcome::Pending => {
                drop(inner);
                Err(asyncio_error(
                    py,
                    "InvalidStateError",
                    Some("Exception is not set.".into_pyobject(py)?.into_any().unbind()),
                ))
            }
        }
    }

    #[pyo3(signature = (callback, *, context = None))]
    fn add_done_callback(
        slf: &Bound<'_, Self>,
        callback: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        {
            let mut inner = slf.get().lock();
            if matches!(inner.outcome, Outcome::Pending) {
                inner.callbacks.push((callback, context));
                return Ok(());
            }
        }
        Self::schedule(slf, vec![(callback, context)])
    }

    /// Removes every registration of `callback`; returns how many there were.
    fn remove_done_callback(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut inner = self.lock();
        let before = inner.callbacks.len();
        let mut kept = Vec::with_capacity(before);
        for (registered, context) in std::mem::take(&mut inner.callbacks) {
            if !registered.bind(py).eq(callback)? {
                kept.push((registered, context));
            }
        }
        inner.callbacks = kept;
        Ok(before - inner.callbacks.len())
    }

    #[pyo3(signature = (msg = None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        Self::finish(slf, Outcome::Cancelled(msg))
    }

    fn set_result(slf: &Bound<'_, Self>, result: Py<PyAny>) -> PyResult<()> {
        if Self::finish(slf, Outcome::Value(result))? {
            return Ok(());
        }
        Err(asyncio_error(
            slf.py(),
            "InvalidStateError",
            Some("invalid state".into_pyobject(slf.py())?.into_any().unbind()),
        ))
    }

    fn set_exception(slf: &Bound<'_, Self>, exception: Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let exception = match exception.cast::<PyType>() {
            Ok(class) => class.call0()?,
            Err(_) => exception,
        };
        if exception.is_instance_of::<PyStopIteration>() {
            return Err(PyTypeError::new_err(
                "StopIteration interacts badly with generators and cannot be raised into a Future",
            ));
        }
        if Self::finish(slf, Outcome::Error(exception.unbind()))? {
            return Ok(());
        }
        Err(asyncio_error(
            py,
            "InvalidStateError",
            Some("invalid state".into_pyobject(py)?.into_any().unbind()),
        ))
    }

    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// `await`: yields itself to the task while pending (as `Future.__await__`), then returns
    /// the result (raises its error).
    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        {
            let mut inner = slf.get().lock();
            if matches!(inner.outcome, Outcome::Pending) {
                inner.blocking = true;
                return Ok(Some(slf.clone().into_any().unbind()));
            }
        }
        let value = slf.get().result(py)?;
        Err(PyStopIteration::new_err((value,)))
    }

    fn __repr__(&self) -> String {
        let state = match self.lock().outcome {
            Outcome::Pending => "pending",
            Outcome::Value(_) | Outcome::Error(_) => "finished",
            Outcome::Cancelled(_) => "cancelled",
        };
        format!("<Completion {state}>")
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.event_loop)?;
        if let Ok(inner) = self.inner.try_lock() {
            match &inner.outcome {
                Outcome::Value(v) | Outcome::Error(v) => visit.call(v)?,
                Outcome::Cancelled(Some(m)) => visit.call(m)?,
                _ => {}
            }
            for (callback, context) in &inner.callbacks {
                visit.call(callback)?;
                visit.call(context)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        if let Ok(mut inner) = self.inner.try_lock() {
            inner.callbacks.clear();
        }
    }
}

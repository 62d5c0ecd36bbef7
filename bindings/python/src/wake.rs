//! Waking a task in the event-loop turn that completes its future.
//!
//! An `asyncio.Future` completed while the loop handles a read schedules its done-callbacks
//! (an awaiting task's wake-up) with `loop.call_soon`, so the awaiting coroutine resumes one
//! event-loop turn later: on asyncio's own loop a second `epoll_wait` and a pass through
//! `_run_once` per command. The connection completes command futures while it handles a read
//! or a timer, called by the loop and never inside a task; there it takes the future's
//! callbacks off first ([`take_callbacks`]), completes it, and calls them itself ([`run`]) once
//! the read is handled (after the deliveries' callbacks and their writes), each in its context
//! as the `Handle` of `call_soon` would. The future stays an ordinary `asyncio.Future`.

use pyo3::{intern, prelude::*, types::PyDict};

/// A done-callback and the context it runs in.
pub(crate) type Callback = (Py<PyAny>, Option<Py<PyAny>>);

/// The done-callbacks of a pending future, removed from it (so completing it schedules none);
/// None when it is done, or keeps its callbacks in a way not known here (then it is completed
/// as usual).
pub(crate) fn take_callbacks(future: &Bound<'_, PyAny>) -> PyResult<Option<Vec<Callback>>> {
    let py = future.py();
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(None);
    }
    // `_callbacks`: (callback, context) pairs in asyncio's C and Python futures alike; None
    // (C) or an empty list when there are none.
    let Ok(registered) = future.getattr(intern!(py, "_callbacks")) else { return Ok(None) };
    let mut callbacks = Vec::new();
    if registered.is_none() {
        return Ok(Some(callbacks));
    }
    for entry in registered.try_iter()? {
        let (callback, context): (Py<PyAny>, Option<Py<PyAny>>) = entry?.extract()?;
        callbacks.push((callback, context));
    }
    for (callback, _) in &callbacks {
        future.call_method1(intern!(py, "remove_done_callback"), (callback,))?;
    }
    Ok(Some(callbacks))
}

/// Schedules callbacks with `loop.call_soon` (what completing the future would have done).
pub(crate) fn schedule(
    event_loop: &Bound<'_, PyAny>,
    future: &Bound<'_, PyAny>,
    callbacks: Vec<Callback>,
) -> PyResult<()> {
    let py = future.py();
    let call_soon = event_loop.getattr(intern!(py, "call_soon"))?;
    for (callback, context) in callbacks {
        match context {
            Some(context) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item(intern!(py, "context"), context)?;
                call_soon.call((callback, future), Some(&kwargs))?;
            }
            None => {
                call_soon.call1((callback, future))?;
            }
        }
    }
    Ok(())
}

/// Calls callbacks now, each in its context. An exception is reported to the loop's exception
/// handler, as the loop reports a callback's; `SystemExit` and `KeyboardInterrupt` propagate
/// (the callbacks not run yet are scheduled first).
pub(crate) fn run(
    event_loop: &Bound<'_, PyAny>,
    future: &Bound<'_, PyAny>,
    callbacks: Vec<Callback>,
) -> PyResult<()> {
    let py = future.py();
    let mut callbacks = callbacks.into_iter();
    while let Some((callback, context)) = callbacks.next() {
        let called = match &context {
            Some(context) => context.call_method1(py, intern!(py, "run"), (&callback, future)),
            None => callback.call1(py, (future,)),
        };
        if let Err(error) = called {
            if !error.is_instance_of::<pyo3::exceptions::PyException>(py) {
                schedule(event_loop, future, callbacks.collect())?;
                return Err(error);
            }
            let report = PyDict::new(py);
            report.set_item("message", "Exception in a callback of a lime-python command")?;
            report.set_item("exception", error.value(py))?;
            report.set_item("future", future)?;
            event_loop.call_method1(intern!(py, "call_exception_handler"), (report,))?;
        }
    }
    Ok(())
}

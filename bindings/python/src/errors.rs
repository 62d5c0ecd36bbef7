//! The exceptions of `lime_python.errors`, raised from Rust.
//!
//! They are defined in Python (multiple inheritance from the builtins lime-python raised, as
//! orjson and pydantic-core do), looked up by name when raised. A core error picks its class
//! through the core's one mapping, [`lime::convert::host_error`] (category and cause), as the
//! Kotlin/Swift and Dart bindings do: [`class_of`] only names the Python class of each.

use lime::{
    convert::{host_error, HostError},
    ErrorCategory,
};
use pyo3::{exceptions::PyValueError, prelude::*, types::PyType};

fn raise(py: Python<'_>, name: &str, message: String) -> PyErr {
    let class = py
        .import("lime_python.errors")
        .and_then(|m| m.getattr(name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, message),
        // The pure-Python package is missing (the extension used alone): builtins only.
        Err(_) => PyValueError::new_err(message),
    }
}

/// The `lime_python.errors` class of a core error, by its category and cause. Each also
/// derives from the builtin lime-python 2.0.13 raised there (`ValueError` mostly).
fn class_of(h: &HostError) -> &'static str {
    match (h.category, h.cause) {
        (ErrorCategory::Parse, _) => "EnvelopeParseError",
        (ErrorCategory::Transport, "envelope_too_large") => "EnvelopeTooLargeError",
        (ErrorCategory::Session | ErrorCategory::Command, _) => "ChannelStateError",
        (ErrorCategory::Closed, _) => "ConnectionClosedError",
        _ => "LimeError",
    }
}

pub(crate) fn envelope_parse(py: Python<'_>, message: String) -> PyErr {
    raise(py, "EnvelopeParseError", message)
}

pub(crate) fn closed(py: Python<'_>, message: String) -> PyErr {
    raise(py, "ConnectionClosedError", message)
}

/// A connection that could not be opened: `lime_python.errors._open_error` picks the class
/// from the cause [`host_error`] gives (an `OSError` for `io` and `tls`, a
/// `ConnectionRefusedError` with errno ECONNREFUSED, an invalid URI error for
/// `invalid_transport_uri`), as lime-transport-websocket's errors were.
pub(crate) fn open_failed(py: Python<'_>, uri: &str, e: &lime::Error) -> PyErr {
    let h = host_error(e);
    let message = format!("cannot open {uri}: {}", h.message);
    let (kind, errno) = match (h.category, h.cause) {
        (_, "invalid_transport_uri" | "invalid_uri") => ("uri", None),
        (ErrorCategory::Transport, "io") => ("os", os_errno(&h.message)),
        (ErrorCategory::Transport, "tls") => ("os", None),
        _ => ("closed", None),
    };
    let error = py
        .import("lime_python.errors")
        .and_then(|m| m.getattr("_open_error"))
        .and_then(|f| f.call1((kind, message.as_str(), errno)));
    match error {
        Ok(error) => PyErr::from_value(error),
        Err(_) => closed(py, message),
    }
}

/// The errno in an I/O error's text (`… (os error 111)`, as `std::io::Error` displays it).
fn os_errno(text: &str) -> Option<i32> {
    let start = text.rfind("(os error ")? + "(os error ".len();
    text[start..].split(')').next()?.parse().ok()
}

/// A send refused because the peer is not reading (see `LoopConnection.check_room`).
pub(crate) fn write_buffer_full(py: Python<'_>, message: String) -> PyErr {
    raise(py, "WriteBufferFullError", message)
}

pub(crate) fn lime(py: Python<'_>, message: String) -> PyErr {
    raise(py, "LimeError", message)
}

/// Maps a core error to the matching Python exception (the class by [`class_of`]).
pub(crate) fn from_core(py: Python<'_>, e: &lime::Error) -> PyErr {
    let h = host_error(e);
    if let lime::Error::Session(lime::SessionError::InvalidState { action, state }) = e {
        if action.starts_with("send") {
            // lime-python's wording for sends in the wrong state.
            return raise(py, class_of(&h), format!("Cannot send in the {state} state"));
        }
    }
    raise(py, class_of(&h), h.message)
}

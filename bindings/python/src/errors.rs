//! The exceptions of `lime_python.errors`, raised from Rust.
//!
//! They are defined in Python (multiple inheritance from the builtins lime-python raised, as
//! orjson and pydantic-core do), looked up by name when raised.

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

pub(crate) fn envelope_parse(py: Python<'_>, message: String) -> PyErr {
    raise(py, "EnvelopeParseError", message)
}

pub(crate) fn channel_state(py: Python<'_>, message: String) -> PyErr {
    raise(py, "ChannelStateError", message)
}

pub(crate) fn closed(py: Python<'_>, message: String) -> PyErr {
    raise(py, "ConnectionClosedError", message)
}

/// A connection that could not be opened: `lime_python.errors._open_error` picks the class
/// (an `OSError` for system errors, `ConnectionRefusedError` with errno ECONNREFUSED, an invalid
/// URI error for a bad URI), as lime-transport-websocket's errors were.
pub(crate) fn open_failed(py: Python<'_>, uri: &str, e: &lime::TransportError) -> PyErr {
    let message = format!("cannot open {uri}: {e}");
    let (kind, errno) = match e {
        lime::TransportError::InvalidUri(_) => ("uri", None),
        lime::TransportError::Io(text) => ("os", os_errno(text)),
        lime::TransportError::Tls(_) => ("os", None),
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

pub(crate) fn too_large(py: Python<'_>, message: String) -> PyErr {
    raise(py, "EnvelopeTooLargeError", message)
}

/// A send refused because the peer is not reading (see `LoopConnection.check_room`).
pub(crate) fn write_buffer_full(py: Python<'_>, message: String) -> PyErr {
    raise(py, "WriteBufferFullError", message)
}

pub(crate) fn lime(py: Python<'_>, message: String) -> PyErr {
    raise(py, "LimeError", message)
}

/// Maps a core error to the matching Python exception.
pub(crate) fn from_core(py: Python<'_>, e: &lime::Error) -> PyErr {
    match e {
        // lime-python's wording for sends in the wrong state.
        lime::Error::Session(lime::SessionError::InvalidState { action, state })
            if action.starts_with("send") =>
        {
            channel_state(py, format!("Cannot send in the {state} state"))
        }
        lime::Error::Parse(_) | lime::Error::Frame(_) => envelope_parse(py, e.to_string()),
        lime::Error::Session(_) | lime::Error::Command(_) => channel_state(py, e.to_string()),
        lime::Error::Transport(lime::TransportError::EnvelopeTooLarge { .. }) => {
            too_large(py, e.to_string())
        }
        lime::Error::Closed | lime::Error::Transport(lime::TransportError::Closed) => {
            closed(py, e.to_string())
        }
        _ => lime(py, e.to_string()),
    }
}

//! JSON values and envelopes to and from Python objects.

use lime::{Document, Envelope};
use pyo3::{
    exceptions::PyTypeError,
    prelude::*,
    types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple},
};
use serde_json::{Map, Number, Value};

use crate::errors;

/// A JSON value as a Python object (dicts keep key order).
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python object as a JSON value: None, bool, int, float, str, list/tuple, dict with str keys.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::String(s.to_cow()?.into_owned()))
    } else if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            Ok(Value::from(i))
        } else if let Ok(u) = obj.extract::<u64>() {
            Ok(Value::from(u))
        } else {
            Err(PyTypeError::new_err("integer out of the JSON range"))
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err("NaN and infinity are not JSON"))
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (k, v) in dict.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("JSON object keys must be strings"))?;
            map.insert(key.to_cow()?.into_owned(), from_py(&v)?);
        }
        Ok(Value::Object(map))
    } else if let Ok(list) = obj.cast::<PyList>() {
        list.iter().map(|v| from_py(&v)).collect::<PyResult<Vec<_>>>().map(Value::Array)
    } else if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.iter().map(|v| from_py(&v)).collect::<PyResult<Vec<_>>>().map(Value::Array)
    } else {
        let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        Err(PyTypeError::new_err(format!("an object of type {ty} is not JSON serializable")))
    }
}

/// A document's value for Python: as received, like lime-python (`5` stays `5` under
/// `text/plain`, where the core keeps the C# rule's `"5"`).
pub(crate) fn document_to_py<'py>(py: Python<'py>, doc: &Document) -> PyResult<Bound<'py, PyAny>> {
    to_py(py, doc.original_value().unwrap_or(doc.value()))
}

/// An envelope as its canonical wire dict.
pub(crate) fn envelope_to_py<'py>(py: Python<'py>, env: &Envelope) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(env).map_err(|e| PyTypeError::new_err(e.to_string()))?;
    to_py(py, &value)
}

/// A received envelope for the callbacks: its canonical wire dict with the document as received
/// (see [`document_to_py`]).
pub(crate) fn received_to_py<'py>(py: Python<'py>, env: &Envelope) -> PyResult<Bound<'py, PyAny>> {
    let mut value = serde_json::to_value(env).map_err(|e| PyTypeError::new_err(e.to_string()))?;
    let (key, doc) = match env {
        Envelope::Message(m) => ("content", m.content.as_ref()),
        Envelope::Command(c) => ("resource", c.resource.as_ref()),
        _ => ("", None),
    };
    if let (Some(original), Some(map)) =
        (doc.and_then(Document::original_value), value.as_object_mut())
    {
        map.insert(key.to_owned(), original.clone());
    }
    to_py(py, &value)
}

/// A wire dict (or JSON text) as an envelope; raises EnvelopeParseError.
pub(crate) fn envelope_from_py(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Envelope> {
    let parsed = if let Ok(s) = obj.cast::<PyString>() {
        Envelope::from_slice(s.to_cow()?.as_bytes())
    } else if let Ok(b) = obj.extract::<&[u8]>() {
        Envelope::from_slice(b)
    } else {
        Envelope::from_value(from_py(obj)?)
    };
    parsed.map_err(|e| errors::envelope_parse(py, e.to_string()))
}

//! Codec functions: envelopes, nodes, and lime-python's `Serializable` key mapping.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

use lime::Node;
use pyo3::{
    exceptions::PyValueError,
    prelude::*,
    types::{PyDict, PyString},
};

use crate::convert::{envelope_from_py, envelope_to_py};

/// Parses one envelope (str or bytes) to its canonical wire dict.
#[pyfunction]
pub(crate) fn loads<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let env = envelope_from_py(py, data)?;
    envelope_to_py(py, &env)
}

/// Serializes a wire dict to canonical JSON text.
#[pyfunction]
pub(crate) fn dumps(py: Python<'_>, envelope: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(envelope_from_py(py, envelope)?.to_json())
}

/// The canonical form of a wire dict.
#[pyfunction]
pub(crate) fn canonical<'py>(
    py: Python<'py>,
    envelope: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let env = envelope_from_py(py, envelope)?;
    envelope_to_py(py, &env)
}

/// (name, domain, instance) of a node string, by the C# rules.
#[pyfunction]
pub(crate) fn parse_node(
    value: &str,
) -> PyResult<(Option<String>, Option<String>, Option<String>)> {
    let node: Node =
        value.parse().map_err(|e: lime::ParseError| PyValueError::new_err(e.to_string()))?;
    Ok((
        node.name().map(Into::into),
        node.domain().map(Into::into),
        node.instance().map(Into::into),
    ))
}

type Cache = Mutex<HashMap<String, String>>;

fn cached(cache: &'static OnceLock<Cache>, key: &str, f: impl FnOnce(&str) -> String) -> String {
    let cache = cache.get_or_init(Cache::default);
    let mut map = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(v) = map.get(key) {
        return v.clone();
    }
    let v = f(key);
    if map.len() < 4096 {
        map.insert(key.to_owned(), v.clone());
    }
    v
}

/// pyhumps' camelize: a run of `_`/`-` between two other characters is removed and the
/// following character upper-cased; the first character is lower-cased unless the first two
/// are upper case; all-upper and numeric strings are kept.
fn humps_camelize(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty()
        || (chars.iter().any(|c| c.is_alphabetic()) && !chars.iter().any(|c| c.is_lowercase()))
        || chars.iter().all(|c| c.is_numeric())
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let sep = |c: char| c == '_' || c == '-';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if sep(c) && i > 0 && !sep(chars[i - 1]) {
            let mut j = i;
            while j < chars.len() && sep(chars[j]) {
                j += 1;
            }
            if j < chars.len() {
                out.extend(chars[j].to_uppercase());
                i = j + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    let first_two_upper = chars.len() >= 2 && chars[0].is_uppercase() && chars[1].is_uppercase();
    if !first_two_upper {
        if let Some(first) = out.chars().next() {
            let rest = out[first.len_utf8()..].to_owned();
            out = first.to_lowercase().collect::<String>() + &rest;
        }
    }
    out
}

/// camelCase (or PascalCase) to snake_case, keeping acronyms together (`fooID` → `foo_id`).
fn humps_decamelize(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if (chars.iter().any(|c| c.is_alphabetic()) && !chars.iter().any(|c| c.is_lowercase()))
        || chars.iter().all(|c| c.is_numeric())
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if (prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower))
                && !out.ends_with('_')
            {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// lime-python's JSON key for an attribute: `from_n` → `from`, `type_n` → `type`, then camelCase.
#[pyfunction]
pub(crate) fn camelize(key: &str) -> String {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    cached(&CACHE, key, |k| humps_camelize(k.strip_suffix("_n").unwrap_or(k)))
}

/// lime-python's attribute for a JSON key: snake_case, with `from` → `from_n`, `type` → `type_n`.
#[pyfunction]
pub(crate) fn decamelize(key: &str) -> String {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    cached(&CACHE, key, |k| {
        let snake = humps_decamelize(k);
        match snake.as_str() {
            "from" => "from_n".to_owned(),
            "type" => "type_n".to_owned(),
            _ => snake,
        }
    })
}

/// Attribute name → JSON key, as interned Python strings (the hot path of `to_json`).
fn json_key<'py>(py: Python<'py>, key: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyAny>> {
    static KEYS: pyo3::sync::PyOnceLock<Py<PyDict>> = pyo3::sync::PyOnceLock::new();
    let cache = KEYS.get_or_init(py, || PyDict::new(py).unbind()).bind(py);
    if let Some(found) = cache.get_item(key)? {
        return Ok(found);
    }
    let mapped = PyString::intern(py, &camelize(&key.to_cow()?)).into_any();
    if cache.len() < 4096 {
        cache.set_item(key, &mapped)?;
    }
    Ok(mapped)
}

/// lime-python's `Serializable.to_json` over `obj.__dict__`.
#[pyfunction]
pub(crate) fn serializable_to_json<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    serializable_type: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let attrs = obj.getattr(pyo3::intern!(py, "__dict__"))?;
    let attrs = attrs.cast::<PyDict>()?;
    let out = PyDict::new(py);
    for (k, v) in attrs.iter() {
        let key = k.cast::<PyString>()?;
        if v.is_none() || key.to_cow()?.starts_with('_') {
            continue;
        }
        // Plain JSON values (the common case) need no further checks.
        let plain = v.is_exact_instance_of::<PyString>()
            || v.is_exact_instance_of::<PyDict>()
            || v.is_exact_instance_of::<pyo3::types::PyList>()
            || v.is_exact_instance_of::<pyo3::types::PyInt>()
            || v.is_exact_instance_of::<pyo3::types::PyBool>()
            || v.is_exact_instance_of::<pyo3::types::PyFloat>();
        let value = if plain {
            v
        } else if v.is_instance(serializable_type)? {
            v.call_method0(pyo3::intern!(py, "to_json"))?
        } else if v.hasattr(pyo3::intern!(py, "__dict__"))? {
            v.str()?.into_any()
        } else {
            v
        };
        out.set_item(json_key(py, key)?, value)?;
    }
    Ok(out)
}

/// The keyword arguments of lime-python's `Serializable.from_json`.
#[pyfunction]
pub(crate) fn from_json_kwargs<'py>(
    py: Python<'py>,
    raw: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (k, v) in raw.iter() {
        let key = k.cast::<PyString>()?.to_cow()?;
        let key: &str = &key;
        out.set_item(decamelize(key), v)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camelize_like_humps_with_lime_python_suffixes() {
        for (input, out) in [
            ("from_n", "from"),
            ("type_n", "type"),
            ("encryption_options", "encryptionOptions"),
            ("scheme_options", "schemeOptions"),
            ("display_name", "displayName"),
            ("id", "id"),
            ("_private", "_private"),
            ("already_camelCase", "alreadyCamelCase"),
            ("ID", "ID"),
        ] {
            assert_eq!(camelize(input), out, "{input}");
        }
    }

    #[test]
    fn decamelize_with_lime_python_suffixes() {
        for (input, out) in [
            ("from", "from_n"),
            ("type", "type_n"),
            ("encryptionOptions", "encryption_options"),
            ("schemeOptions", "scheme_options"),
            ("id", "id"),
            ("fooID", "foo_id"),
            ("HTTPServer", "http_server"),
            ("pp", "pp"),
        ] {
            assert_eq!(decamelize(input), out, "{input}");
        }
    }
}

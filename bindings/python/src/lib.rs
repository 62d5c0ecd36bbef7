//! `lime_python._lime`: the native core of the lime-python package.
//!
//! Envelope codec, the channel core, native TCP/WebSocket client connections run on the asyncio
//! event loop ([`driver`]: the sans-IO `lime::connection::ClientConnection` as an asyncio
//! protocol, no thread) and the routing server (on a tokio runtime of its own, [`runtime`]), all
//! from `lime-core`; the pure-Python package in `python/` keeps lime-python 2.0.13's API on top
//! of them. See `python/lime_python/_lime.pyi` for the Python-facing contract.

#![allow(unreachable_pub)]

mod channel;
mod codec;
mod convert;
mod driver;
mod errors;
mod ids;
mod runtime;
mod server;
mod wake;

use pyo3::prelude::*;

#[pymodule]
fn _lime(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(codec::loads, m)?)?;
    m.add_function(wrap_pyfunction!(codec::dumps, m)?)?;
    m.add_function(wrap_pyfunction!(codec::canonical, m)?)?;
    m.add_function(wrap_pyfunction!(codec::parse_node, m)?)?;
    m.add_function(wrap_pyfunction!(codec::camelize, m)?)?;
    m.add_function(wrap_pyfunction!(codec::decamelize, m)?)?;
    m.add_function(wrap_pyfunction!(codec::serializable_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(codec::from_json_kwargs, m)?)?;
    m.add_class::<channel::ChannelCore>()?;
    m.add_class::<channel::Inbound>()?;
    m.add_class::<driver::LoopConnection>()?;
    m.add_class::<server::Server>()?;
    // A forked child counts its envelope ids from a base of its own (see `ids`).
    let reseed = wrap_pyfunction!(ids::_reseed_ids, m)?;
    m.add_function(reseed.clone())?;
    let kwargs = pyo3::types::PyDict::new(m.py());
    kwargs.set_item("after_in_child", reseed)?;
    m.py().import("os")?.call_method("register_at_fork", (), Some(&kwargs))?;
    let shutdown = wrap_pyfunction!(runtime::_shutdown, m)?;
    m.add_function(shutdown.clone())?;
    m.py().import("atexit")?.call_method1("register", (shutdown,))?;
    Ok(())
}

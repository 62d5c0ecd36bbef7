//! `ChannelCore`: the Rust channel core for Python drivers.

use std::sync::{Arc, Mutex, MutexGuard};

use lime::{
    channel::{self, ChannelOptions, IdPolicy, ReceiptTarget, Role},
    Authentication, Envelope, Identity, SessionCompression, SessionEncryption, SessionState,
};
use pyo3::{exceptions::PyValueError, prelude::*};

use crate::{
    convert::{envelope_from_py, envelope_to_py, from_py},
    errors,
};

/// The core shared between a Python channel and, when attached, a native connection.
pub(crate) type SharedCore = Arc<Mutex<channel::ChannelCore<Py<PyAny>>>>;

pub(crate) fn lock(core: &SharedCore) -> MutexGuard<'_, channel::ChannelCore<Py<PyAny>>> {
    core.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What to do with a received envelope.
#[pyclass(module = "lime_python._lime", get_all, frozen)]
pub(crate) struct Inbound {
    deliver_kind: Option<&'static str>,
    deliver: Option<Py<PyAny>>,
    reply: Option<Py<PyAny>>,
    response: Option<Py<PyAny>>,
    completion: Option<Py<PyAny>>,
    session: Option<Py<PyAny>>,
    close: bool,
}

/// The Rust channel core (see `_lime.pyi`).
#[pyclass(module = "lime_python._lime", frozen)]
pub(crate) struct ChannelCore {
    pub(crate) inner: SharedCore,
}

pub(crate) fn auth_from_dict(py: Python<'_>, d: &Bound<'_, PyAny>) -> PyResult<Authentication> {
    let value = from_py(d)?;
    let mut session = serde_json::json!({"state": "authenticating"});
    if let (Some(obj), Some(s)) = (value.as_object(), session.as_object_mut()) {
        if let Some(scheme) = obj.get("scheme") {
            s.insert("scheme".into(), scheme.clone());
        }
        s.insert("authentication".into(), value.clone());
    }
    match Envelope::from_value(session) {
        Ok(Envelope::Session(s)) => s
            .authentication
            .ok_or_else(|| PyValueError::new_err("the authentication has no scheme")),
        Ok(_) => Err(PyValueError::new_err("invalid authentication")),
        Err(e) => Err(errors::envelope_parse(py, e.to_string())),
    }
}

pub(crate) fn parse_opt_node(node: Option<&str>) -> PyResult<Option<lime::Node>> {
    node.map(|n| n.parse::<lime::Node>().map_err(|e| PyValueError::new_err(e.to_string())))
        .transpose()
}

impl ChannelCore {
    /// Changes part of the session (state, id, nodes) through the core's snapshot.
    fn update(&self, change: impl FnOnce(&mut channel::Snapshot)) {
        let mut core = self.core();
        let mut snapshot = core.snapshot();
        change(&mut snapshot);
        core.restore(snapshot);
    }

    fn core(&self) -> MutexGuard<'_, channel::ChannelCore<Py<PyAny>>> {
        lock(&self.inner)
    }
}

pub(crate) fn to_py_env(py: Python<'_>, env: impl Into<Envelope>) -> PyResult<Py<PyAny>> {
    Ok(envelope_to_py(py, &env.into())?.unbind())
}

/// The arguments of `negotiate_session`, as both channel cores (this one and the native
/// transports' `LoopConnection`) take them.
pub(crate) fn negotiation(
    compression: &str,
    encryption: &str,
) -> PyResult<(SessionCompression, SessionEncryption)> {
    let parse_error = |e: lime::ParseError| PyValueError::new_err(e.to_string());
    Ok((compression.parse().map_err(parse_error)?, encryption.parse().map_err(parse_error)?))
}

/// The arguments of `authenticate_session`, as both channel cores take them.
pub(crate) fn credentials(
    py: Python<'_>,
    identity: &str,
    authentication: &Bound<'_, PyAny>,
) -> PyResult<(Identity, lime::Authentication)> {
    let identity: Identity =
        identity.parse().map_err(|e: lime::ParseError| PyValueError::new_err(e.to_string()))?;
    Ok((identity, auth_from_dict(py, authentication)?))
}

/// Converts a core inbound into the Python object.
pub(crate) fn inbound_to_py(
    py: Python<'_>,
    inbound: channel::Inbound<Py<PyAny>>,
) -> PyResult<Inbound> {
    let deliver_kind = inbound.deliver.as_ref().map(|e| e.kind().as_str());
    let (response, completion) = match inbound.response {
        Some((cmd, completion)) => (Some(to_py_env(py, cmd)?), Some(completion)),
        None => (None, None),
    };
    Ok(Inbound {
        deliver_kind,
        deliver: inbound.deliver.map(|e| to_py_env(py, e)).transpose()?,
        reply: inbound.reply.map(|e| to_py_env(py, e)).transpose()?,
        response,
        completion,
        session: inbound.session.map(|s| to_py_env(py, s)).transpose()?,
        close: inbound.close,
    })
}

#[pymethods]
impl ChannelCore {
    #[new]
    #[pyo3(signature = (role = "client", auto_reply_pings = true, auto_notify_receipt = false, receipt_target = "sender", deliver_answered_pings = false, assign_ids = "commands", fill_envelope_recipients = false))]
    #[allow(clippy::fn_params_excessive_bools)]
    fn new(
        role: &str,
        auto_reply_pings: bool,
        auto_notify_receipt: bool,
        receipt_target: &str,
        deliver_answered_pings: bool,
        assign_ids: &str,
        fill_envelope_recipients: bool,
    ) -> PyResult<Self> {
        let role = match role {
            "client" => Role::Client,
            "server" => Role::Server,
            other => {
                return Err(PyValueError::new_err(format!(
                    "role must be 'client' or 'server', not {other:?}"
                )))
            }
        };
        let receipt_target = match receipt_target {
            "sender" => ReceiptTarget::Sender,
            "to" => ReceiptTarget::MessageTo,
            other => {
                return Err(PyValueError::new_err(format!(
                    "receipt_target must be 'sender' or 'to', not {other:?}"
                )))
            }
        };
        let ids = match assign_ids {
            "commands" => IdPolicy::Commands,
            "all" => IdPolicy::All,
            other => {
                return Err(PyValueError::new_err(format!(
                    "assign_ids must be 'commands' or 'all', not {other:?}"
                )))
            }
        };
        let options = ChannelOptions {
            auto_reply_pings,
            deliver_answered_pings,
            auto_notify_receipt,
            receipt_target,
            fill_envelope_recipients,
            ids,
        };
        Ok(Self { inner: Arc::new(Mutex::new(channel::ChannelCore::new(role, options))) })
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.core().state().as_str()
    }

    #[setter]
    fn set_state(&self, state: &str) -> PyResult<()> {
        let state: SessionState =
            state.parse().map_err(|e: lime::ParseError| PyValueError::new_err(e.to_string()))?;
        self.update(|s| s.state = state);
        Ok(())
    }

    #[getter]
    fn session_id(&self) -> Option<String> {
        self.core().session_id().map(Into::into)
    }

    #[setter]
    fn set_session_id(&self, id: Option<String>) {
        self.update(|s| s.session_id = id);
    }

    #[getter]
    fn local_node(&self) -> Option<String> {
        self.core().local_node().map(ToString::to_string)
    }

    #[setter]
    fn set_local_node(&self, node: Option<&str>) -> PyResult<()> {
        let node = parse_opt_node(node)?;
        self.update(|s| s.local_node = node);
        Ok(())
    }

    #[getter]
    fn remote_node(&self) -> Option<String> {
        self.core().remote_node().map(ToString::to_string)
    }

    #[setter]
    fn set_remote_node(&self, node: Option<&str>) -> PyResult<()> {
        let node = parse_opt_node(node)?;
        self.update(|s| s.remote_node = node);
        Ok(())
    }

    #[getter]
    fn auto_reply_pings(&self) -> bool {
        self.core().options().auto_reply_pings
    }

    #[setter]
    fn set_auto_reply_pings(&self, value: bool) {
        self.core().options_mut().auto_reply_pings = value;
    }

    #[getter]
    fn auto_notify_receipt(&self) -> bool {
        self.core().options().auto_notify_receipt
    }

    #[setter]
    fn set_auto_notify_receipt(&self, value: bool) {
        self.core().options_mut().auto_notify_receipt = value;
    }

    #[getter]
    fn pending_commands(&self) -> usize {
        self.core().pending_commands()
    }

    fn start_new_session(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let s = self.core().start_new_session().map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, s)
    }

    fn negotiate_session(
        &self,
        py: Python<'_>,
        compression: &str,
        encryption: &str,
    ) -> PyResult<Py<PyAny>> {
        let (c, e) = negotiation(compression, encryption)?;
        let s = self.core().negotiate_session(c, e).map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, s)
    }

    #[pyo3(signature = (identity, authentication, instance = None))]
    fn authenticate_session(
        &self,
        py: Python<'_>,
        identity: &str,
        authentication: &Bound<'_, PyAny>,
        instance: Option<&str>,
    ) -> PyResult<Py<PyAny>> {
        let (identity, auth) = credentials(py, identity, authentication)?;
        let s = self
            .core()
            .authenticate_session(&identity, auth, instance)
            .map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, s)
    }

    fn finishing_session(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let s = self.core().finishing_session().map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, s)
    }

    fn prepare_send(&self, py: Python<'_>, envelope: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let env = envelope_from_py(py, envelope)?;
        let env = self.core().prepare_send(env).map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, env)
    }

    fn register_command(
        &self,
        py: Python<'_>,
        command: &Bound<'_, PyAny>,
        completion: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let Envelope::Command(cmd) = envelope_from_py(py, command)? else {
            return Err(PyValueError::new_err("not a command"));
        };
        let cmd =
            self.core().register_command(cmd, completion).map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, cmd)
    }

    fn cancel_command(&self, id: &str) -> Option<Py<PyAny>> {
        self.core().cancel_command(id)
    }

    fn drain_pending(&self) -> Vec<Py<PyAny>> {
        self.core().drain_pending().into_iter().map(|(_, p)| p).collect()
    }

    fn receive(&self, py: Python<'_>, envelope: &Bound<'_, PyAny>) -> PyResult<Inbound> {
        let env = envelope_from_py(py, envelope)?;
        let inbound = self.core().receive(env).map_err(|e| errors::from_core(py, &e))?;
        inbound_to_py(py, inbound)
    }

    fn __repr__(&self) -> String {
        let core = self.core();
        format!(
            "ChannelCore(state={:?}, session_id={:?})",
            core.state().as_str(),
            core.session_id()
        )
    }
}

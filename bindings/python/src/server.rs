//! `Server`: the Rust routing server, with an optional Python authenticator.

use std::{
    ffi::CString,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use lime::{
    server::{
        AuthConfig, AuthOutcome, AuthRequest, Authenticator, Server as CoreServer, ServerConfig,
        ServerHandle, UserFile, DEFAULT_QUEUE_MAX_BYTES,
    },
    transport::{tls::ServerTlsConfig, TransportOptions},
    Authentication, AuthenticationScheme, Identity, Node, DEFAULT_MAX_ENVELOPE_SIZE,
};
use pyo3::{exceptions::PyValueError, prelude::*, types::PyDict};
use tokio::sync::oneshot;

use crate::{errors, runtime};

const SUPPORT: &str = r#"
import asyncio, inspect, logging

_log = logging.getLogger("lime_python.server")

def invoke(callback, node, authentication, resolve):
    try:
        result = callback(node, authentication)
    except Exception:
        _log.exception("the authenticator raised; rejecting %s", node)
        resolve(False)
        return
    if inspect.isawaitable(result):
        async def wait():
            try:
                ok = bool(await result)
            except Exception:
                _log.exception("the authenticator raised; rejecting %s", node)
                ok = False
            resolve(ok)
        asyncio.ensure_future(wait())
    else:
        resolve(bool(result))
"#;

/// Completes one authentication attempt from the asyncio loop.
#[pyclass(module = "lime_python._lime", frozen)]
struct Resolver {
    tx: Mutex<Option<oneshot::Sender<bool>>>,
}

#[pymethods]
impl Resolver {
    fn __call__(&self, ok: bool) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            let _ = tx.send(ok);
        }
    }
}

struct PyAuthenticator {
    base: AuthConfig,
    callback: Option<Py<PyAny>>,
    invoke: Py<PyAny>,
    event_loop: Py<PyAny>,
}

impl PyAuthenticator {
    fn ask_python(&self, node: &Node, auth: &Authentication) -> Option<oneshot::Receiver<bool>> {
        let callback = self.callback.as_ref()?;
        let (tx, rx) = oneshot::channel();
        let scheduled = Python::attach(|py| -> PyResult<()> {
            let dict = PyDict::new(py);
            dict.set_item("scheme", auth.scheme().as_str())?;
            match auth {
                Authentication::Plain { password } => dict.set_item("password", password)?,
                Authentication::Key { key } => dict.set_item("key", key)?,
                Authentication::External { token, issuer } => {
                    dict.set_item("token", token)?;
                    dict.set_item("issuer", issuer)?;
                }
                _ => {}
            }
            if let Some(Ok(secret)) = auth.decoded_secret() {
                dict.set_item("secret", secret)?;
            }
            let resolver = Py::new(py, Resolver { tx: Mutex::new(Some(tx)) })?;
            self.event_loop.call_method1(
                py,
                "call_soon_threadsafe",
                (
                    self.invoke.clone_ref(py),
                    callback.clone_ref(py),
                    node.to_string(),
                    dict,
                    resolver,
                ),
            )?;
            Ok(())
        });
        match scheduled {
            Ok(()) => Some(rx),
            Err(e) => {
                tracing::warn!(error = %e, "cannot call the Python authenticator");
                None
            }
        }
    }
}

#[async_trait]
impl Authenticator for PyAuthenticator {
    fn schemes(&self) -> Vec<AuthenticationScheme> {
        let mut schemes = self.base.schemes();
        if self.callback.is_some() {
            for s in [
                AuthenticationScheme::Plain,
                AuthenticationScheme::Key,
                AuthenticationScheme::External,
            ] {
                if !schemes.contains(&s) {
                    schemes.push(s);
                }
            }
        }
        schemes
    }

    async fn authenticate(&self, request: AuthRequest<'_>) -> AuthOutcome {
        if self.callback.is_none() || matches!(request.authentication, Authentication::Guest) {
            return self.base.authenticate(request).await;
        }
        match self.ask_python(request.node, request.authentication) {
            Some(rx) => match rx.await {
                Ok(true) => AuthOutcome::Accept,
                _ => AuthOutcome::Reject,
            },
            None => AuthOutcome::Reject,
        }
    }
}

/// The Rust routing server (see `_lime.pyi`).
#[pyclass(module = "lime_python._lime", frozen)]
pub(crate) struct Server {
    handle: Arc<Mutex<Option<ServerHandle>>>,
    tcp: Vec<String>,
    ws: Vec<String>,
}

#[pymethods]
impl Server {
    #[staticmethod]
    #[pyo3(signature = (tcp = vec!["127.0.0.1:55321".to_owned()], ws = vec!["127.0.0.1:8080".to_owned()], domain = "localhost".to_owned(), cert_pem = None, key_pem = None, wss = false, guest = true, users = None, authenticator = None, handshake_timeout = 30.0, max_envelope_size = DEFAULT_MAX_ENVELOPE_SIZE, guest_domain = None, require_tls = false, allow_cleartext_passwords = false, queue_capacity = 256, queue_max_bytes = DEFAULT_QUEUE_MAX_BYTES, send_timeout = 30.0))]
    #[allow(clippy::too_many_arguments)]
    fn start<'py>(
        py: Python<'py>,
        tcp: Vec<String>,
        ws: Vec<String>,
        domain: String,
        cert_pem: Option<Vec<u8>>,
        key_pem: Option<Vec<u8>>,
        wss: bool,
        guest: bool,
        users: Option<Vec<(String, String, String)>>,
        authenticator: Option<Py<PyAny>>,
        handshake_timeout: f64,
        max_envelope_size: usize,
        guest_domain: Option<String>,
        require_tls: bool,
        allow_cleartext_passwords: bool,
        queue_capacity: usize,
        queue_max_bytes: usize,
        send_timeout: f64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?.unbind();
        let code = CString::new(SUPPORT).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let support = PyModule::from_code(
            py,
            &code,
            c"lime_python_server_support.py",
            c"lime_python_server_support",
        )?;
        let invoke = support.getattr("invoke")?.unbind();
        let mut user_file = UserFile::default();
        for (identity, scheme, secret) in users.unwrap_or_default() {
            let id: Identity = identity
                .parse()
                .map_err(|e: lime::ParseError| PyValueError::new_err(e.to_string()))?;
            let scheme = match scheme.as_str() {
                "plain" => AuthenticationScheme::Plain,
                "key" => AuthenticationScheme::Key,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "user scheme must be 'plain' or 'key', not {other:?}"
                    )))
                }
            };
            user_file.insert(id, scheme, secret);
        }
        let guest_domain = match guest_domain.as_deref().map(str::trim) {
            None => None,
            Some(_) if !guest => {
                return Err(PyValueError::new_err("guest_domain needs guest=True"));
            }
            Some(d)
                if d.is_empty() || d.contains(['/', '@']) || d.chars().any(char::is_control) =>
            {
                return Err(PyValueError::new_err(format!("guest_domain {d:?} is not a domain")));
            }
            Some(d) => Some(d.to_owned()),
        };
        if queue_capacity == 0 || queue_max_bytes == 0 {
            return Err(PyValueError::new_err(
                "queue_capacity and queue_max_bytes must be positive",
            ));
        }
        let send_timeout = match send_timeout {
            0.0 => None,
            t => Some(Duration::try_from_secs_f64(t).map_err(|_| {
                PyValueError::new_err("send_timeout must be a number of seconds (0 turns it off)")
            })?),
        };
        let base = AuthConfig {
            guest,
            users: (!user_file.is_empty()).then_some(user_file),
            guest_domain,
            ..AuthConfig::default()
        };
        let auth = PyAuthenticator { base, callback: authenticator, invoke, event_loop };
        let tls = match (cert_pem, key_pem) {
            (Some(c), Some(k)) => Some(
                ServerTlsConfig::from_pem(&c, &k)
                    .map_err(|e| PyValueError::new_err(e.to_string()))?,
            ),
            (None, None) => None,
            _ => return Err(PyValueError::new_err("cert_pem and key_pem go together")),
        };
        let timeout = Duration::try_from_secs_f64(handshake_timeout).map_err(|_| {
            PyValueError::new_err("handshake_timeout must be a positive number of seconds")
        })?;
        let config = ServerConfig {
            node: Node::new(Some("postmaster"), Some(&domain), Some("server")),
            tcp,
            ws,
            tls,
            wss,
            authenticator: Arc::new(auth),
            handshake_timeout: timeout,
            transport: TransportOptions { max_envelope_size, ..TransportOptions::default() },
            require_tls,
            allow_cleartext_passwords,
            queue_capacity,
            queue_max_bytes,
            send_timeout,
            ..ServerConfig::default()
        };
        runtime::future_into_py(py, async move {
            let server = CoreServer::bind(config)
                .await
                .map_err(|e| Python::attach(|py| errors::lime(py, e.to_string())))?;
            let handle = server.start();
            let tcp = handle.tcp_addrs().iter().map(ToString::to_string).collect();
            let ws = handle.ws_addrs().iter().map(ToString::to_string).collect();
            Ok(Self { handle: Arc::new(Mutex::new(Some(handle))), tcp, ws })
        })
    }

    #[getter]
    fn tcp_addresses(&self) -> Vec<String> {
        self.tcp.clone()
    }

    #[getter]
    fn ws_addresses(&self) -> Vec<String> {
        self.ws.clone()
    }

    #[getter]
    fn session_count(&self) -> usize {
        self.handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map_or(0, ServerHandle::session_count)
    }

    /// Fails every session (reason 11) and stops; resolves when every connection is closed.
    fn shutdown<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        runtime::future_into_py(py, async move {
            if let Some(h) = handle {
                h.shutdown().await;
            }
            Ok(())
        })
    }
}

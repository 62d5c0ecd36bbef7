//! `Connection`: a native LIME connection driven by a tokio task.
//!
//! One task per connection owns the transport and selects between "Python queued an envelope"
//! and "an envelope arrived". With a `ChannelCore` attached, arrivals go through the core in
//! Rust: automatic replies are written immediately, the negotiated TLS/gzip is applied right at
//! the confirmation, and only deliveries, sessions and command completions are handed to
//! Python. Those are queued and handed over in batches: one `call_soon_threadsafe` per
//! event-loop wake-up, however many envelopes arrived meanwhile.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, OnceLock,
};

use bytes::Bytes;
use lime::{
    transport::{connect_with, tls::ClientTlsConfig, Transport, TransportOptions},
    Envelope, Session, SessionState, DEFAULT_MAX_ENVELOPE_SIZE,
};
use pyo3::{
    exceptions::PyValueError,
    prelude::*,
    types::{PyList, PyTuple},
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    channel::{lock, ChannelCore, SharedCore},
    convert::{envelope_from_py, envelope_to_py, received_to_py},
    errors, runtime,
};

enum Out {
    Send(Vec<Bytes>),
    Close(oneshot::Sender<()>),
}

/// Something for Python, in arrival order.
enum Item {
    Envelope(Envelope),
    Deliver(Envelope),
    Session(Session),
    Resolve(Py<PyAny>, Envelope),
    Fail(Py<PyAny>),
    Closed(Option<String>),
}

#[derive(Clone, Debug)]
struct Info {
    open: bool,
    encryption: String,
    compression: String,
    supported_encryption: Vec<String>,
    supported_compression: Vec<String>,
    subprotocol: Option<String>,
}

/// Python classes the drainer instantiates directly for the hot envelope kinds (the same
/// attributes, in the same order, as their `from_json`).
struct Classes {
    message: Py<PyAny>,
    notification: Py<PyAny>,
    reason: Py<PyAny>,
}

struct Shared {
    tx: mpsc::UnboundedSender<Out>,
    /// Envelopes queued by Python during the current event-loop turn; handed to the writer
    /// task in one go by a `call_soon` flush, so a burst of sends costs one wake-up.
    outbox: Mutex<Vec<Bytes>>,
    flusher: OnceLock<Py<Flusher>>,
    core: Mutex<Option<SharedCore>>,
    classes: OnceLock<Classes>,
    info: Mutex<Info>,
    max: usize,
    pending: Mutex<Vec<Item>>,
    scheduled: AtomicBool,
    event_loop: Py<PyAny>,
    on_batch: Py<PyAny>,
    drainer: OnceLock<Py<Drainer>>,
}

impl Shared {
    fn info(&self) -> std::sync::MutexGuard<'_, Info> {
        self.info.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn core(&self) -> Option<SharedCore> {
        self.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Queues items for Python and makes sure one drain is scheduled on the loop.
    fn push(&self, items: impl IntoIterator<Item = Item>) {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = pending.len();
        pending.extend(items);
        let added = pending.len() > before;
        drop(pending);
        if added && !self.scheduled.swap(true, Ordering::AcqRel) {
            let Some(drainer) = self.drainer.get() else { return };
            Python::attach(|py| {
                let scheduled = self.event_loop.call_method1(
                    py,
                    "call_soon_threadsafe",
                    (drainer.clone_ref(py),),
                );
                if let Err(e) = scheduled {
                    // The loop is closed: nobody is listening any more.
                    tracing::debug!(error = %e, "cannot schedule a delivery");
                }
            });
        }
    }
}

/// Runs on the asyncio loop: hands the queued items to Python.
#[pyclass(module = "lime_python._lime", frozen)]
struct Drainer {
    shared: Arc<Shared>,
}

#[pymethods]
impl Drainer {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.scheduled.store(false, Ordering::Release);
        let items = std::mem::take(
            &mut *self.shared.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let batch = PyList::empty(py);
        for item in items {
            match item {
                Item::Envelope(e) => batch.append(PyTuple::new(
                    py,
                    [pyo3::intern!(py, "envelope").clone().into_any(), received_to_py(py, &e)?],
                )?)?,
                Item::Deliver(e) => {
                    let kind = pyo3::types::PyString::new(py, e.kind().as_str()).into_any();
                    let value = match self.shared.classes.get() {
                        Some(classes) => build_object(py, classes, &e)?,
                        None => received_to_py(py, &e)?,
                    };
                    batch.append(PyTuple::new(py, [kind, value])?)?;
                }
                Item::Session(s) => batch.append(PyTuple::new(
                    py,
                    [
                        pyo3::intern!(py, "session").clone().into_any(),
                        envelope_to_py(py, &s.into())?,
                    ],
                )?)?,
                Item::Resolve(future, response) => {
                    let done: bool =
                        future.call_method0(py, pyo3::intern!(py, "done"))?.extract(py)?;
                    if !done {
                        future.call_method1(
                            py,
                            pyo3::intern!(py, "set_result"),
                            (received_to_py(py, &response)?,),
                        )?;
                    }
                }
                Item::Fail(future) => {
                    let done: bool =
                        future.call_method0(py, pyo3::intern!(py, "done"))?.extract(py)?;
                    if !done {
                        let err = errors::closed(
                            py,
                            "The connection was closed before the response arrived".into(),
                        );
                        future.call_method1(
                            py,
                            pyo3::intern!(py, "set_exception"),
                            (err.value(py),),
                        )?;
                    }
                }
                Item::Closed(error) => {
                    let err = match error {
                        Some(e) => pyo3::types::PyString::new(py, &e).into_any(),
                        None => py.None().into_bound(py),
                    };
                    batch.append(PyTuple::new(
                        py,
                        [pyo3::intern!(py, "closed").clone().into_any(), err],
                    )?)?;
                }
            }
        }
        if !batch.is_empty() {
            self.shared.on_batch.call1(py, (batch,))?;
        }
        Ok(())
    }
}

/// A native LIME connection (see `_lime.pyi`).
#[pyclass(module = "lime_python._lime", frozen)]
pub(crate) struct Connection {
    shared: Arc<Shared>,
}

impl Connection {
    /// Serializes and queues one envelope: refused above the size limit (the connection stays
    /// up) and once the connection is closed.
    fn queue(&self, py: Python<'_>, env: &Envelope) -> PyResult<()> {
        self.queue_bytes(py, Bytes::from(env.to_vec()))
    }

    fn queue_bytes(&self, py: Python<'_>, bytes: Bytes) -> PyResult<()> {
        if bytes.len() > self.shared.max {
            return Err(errors::too_large(
                py,
                format!(
                    "envelope of {} bytes exceeds the maximum size of {} bytes; not sent",
                    bytes.len(),
                    self.shared.max
                ),
            ));
        }
        if !self.shared.info().open {
            return Err(errors::closed(py, "The connection is not open".into()));
        }
        let first = {
            let mut outbox =
                self.shared.outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            outbox.push(bytes);
            outbox.len() == 1
        };
        if first {
            if let Some(flusher) = self.shared.flusher.get() {
                self.shared.event_loop.call_method1(py, "call_soon", (flusher.clone_ref(py),))?;
            }
        }
        Ok(())
    }
}

impl Shared {
    /// Hands everything Python queued to the writer task.
    fn flush(&self) -> bool {
        let pending = std::mem::take(
            &mut *self.outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        pending.is_empty() || self.tx.send(Out::Send(pending)).is_ok()
    }
}

/// Runs on the asyncio loop at the end of the turn in which envelopes were queued.
#[pyclass(module = "lime_python._lime", frozen)]
struct Flusher {
    shared: Arc<Shared>,
}

#[pymethods]
impl Flusher {
    fn __call__(&self) {
        // A closed connection drops what was queued; the sender already got no error because
        // the connection was open when it queued: nothing else can be done here.
        let _ = self.shared.flush();
    }
}

fn tls_config(
    ca: Option<&[u8]>,
    cert: Option<&[u8]>,
    key: Option<&[u8]>,
) -> Result<ClientTlsConfig, lime::TransportError> {
    let mut builder = ClientTlsConfig::builder();
    if let Some(ca) = ca {
        builder = builder.add_roots_pem(ca)?;
    }
    if let (Some(cert), Some(key)) = (cert, key) {
        builder = builder.client_certificate_pem(cert, key)?;
    }
    builder.build()
}

fn info_of(t: &dyn Transport) -> Info {
    Info {
        open: true,
        encryption: t.encryption().as_str().to_owned(),
        compression: t.compression().as_str().to_owned(),
        supported_encryption: t
            .supported_encryption()
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        supported_compression: t
            .supported_compression()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        subprotocol: t.subprotocol(),
    }
}

#[pymethods]
impl Connection {
    #[staticmethod]
    #[pyo3(signature = (uri, on_batch, ca_pem = None, client_cert_pem = None, client_key_pem = None, max_envelope_size = DEFAULT_MAX_ENVELOPE_SIZE))]
    fn connect<'py>(
        py: Python<'py>,
        uri: String,
        on_batch: Py<PyAny>,
        ca_pem: Option<Vec<u8>>,
        client_cert_pem: Option<Vec<u8>>,
        client_key_pem: Option<Vec<u8>>,
        max_envelope_size: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?.unbind();
        let tls =
            tls_config(ca_pem.as_deref(), client_cert_pem.as_deref(), client_key_pem.as_deref())
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let options = TransportOptions { max_envelope_size, ..TransportOptions::default() };
        runtime::future_into_py(py, async move {
            let transport = connect_with(&uri, &tls, options)
                .await
                .map_err(|e| Python::attach(|py| errors::open_failed(py, &uri, &e)))?;
            let (tx, rx) = mpsc::unbounded_channel();
            let shared = Arc::new(Shared {
                tx,
                core: Mutex::new(None),
                outbox: Mutex::new(Vec::new()),
                flusher: OnceLock::new(),
                classes: OnceLock::new(),
                info: Mutex::new(info_of(transport.as_ref())),
                max: max_envelope_size,
                pending: Mutex::new(Vec::new()),
                scheduled: AtomicBool::new(false),
                event_loop,
                on_batch,
                drainer: OnceLock::new(),
            });
            Python::attach(|py| -> PyResult<()> {
                let drainer = Py::new(py, Drainer { shared: shared.clone() })?;
                let _ = shared.drainer.set(drainer);
                let flusher = Py::new(py, Flusher { shared: shared.clone() })?;
                let _ = shared.flusher.set(flusher);
                Ok(())
            })?;
            if !runtime::spawn(run(shared.clone(), transport, rx)) {
                return Err(Python::attach(|py| {
                    errors::closed(py, "the runtime is shut down".into())
                }));
            }
            Ok(Self { shared })
        })
    }

    /// Lets the Rust side run `core` for this connection. With the envelope classes, received
    /// messages and notifications are delivered as instances of them instead of dicts.
    #[pyo3(signature = (core, message_class = None, notification_class = None, reason_class = None))]
    fn attach(
        &self,
        core: &ChannelCore,
        message_class: Option<Py<PyAny>>,
        notification_class: Option<Py<PyAny>>,
        reason_class: Option<Py<PyAny>>,
    ) {
        *self.shared.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(core.inner.clone());
        if let (Some(message), Some(notification), Some(reason)) =
            (message_class, notification_class, reason_class)
        {
            let _ = self.shared.classes.set(Classes { message, notification, reason });
        }
    }

    /// Runs `core.prepare_send` and queues the envelope in one step; returns the (possibly
    /// assigned) id.
    fn send_with(
        &self,
        py: Python<'_>,
        core: &ChannelCore,
        envelope: &Bound<'_, PyAny>,
    ) -> PyResult<Option<String>> {
        let env = envelope_from_py(py, envelope)?;
        let env = lock(&core.inner).prepare_send(env).map_err(|e| errors::from_core(py, &e))?;
        self.queue(py, &env)?;
        Ok(env.id().map(Into::into))
    }

    /// Like `send_with`, for a `Message` object read straight from its attributes (no dict
    /// round trip): the channel's hot path. Only for exact `Message` instances, whose JSON form
    /// is fixed; returns the (possibly assigned) id.
    fn send_message_with(
        &self,
        py: Python<'_>,
        core: &ChannelCore,
        message: &Bound<'_, PyAny>,
    ) -> PyResult<Option<String>> {
        let env = message_from_object(py, message)?;
        let env = lock(&core.inner).prepare_send(env).map_err(|e| errors::from_core(py, &e))?;
        self.queue(py, &env)?;
        Ok(env.id().map(Into::into))
    }

    /// Queues one envelope (dict or JSON text).
    fn send(&self, py: Python<'_>, envelope: &Bound<'_, PyAny>) -> PyResult<()> {
        let env = envelope_from_py(py, envelope)?;
        self.queue(py, &env)
    }

    /// Queues JSON text as it is, not parsed again: for envelopes the channel checked with the
    /// core and wrote with `json.dumps` (documents the core would rewrite).
    fn send_text(&self, py: Python<'_>, text: &str) -> PyResult<()> {
        self.queue_bytes(py, Bytes::copy_from_slice(text.as_bytes()))
    }

    /// Closes the connection; resolves once it is closed.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (done_tx, done_rx) = oneshot::channel();
        self.shared.flush();
        let queued = self.shared.tx.send(Out::Close(done_tx)).is_ok();
        runtime::future_into_py(py, async move {
            if queued {
                let _ = done_rx.await;
            }
            Ok(())
        })
    }

    #[getter]
    fn is_open(&self) -> bool {
        self.shared.info().open
    }

    /// `is_open` under the name of websockets' protocol objects (`transport.websocket.open`
    /// in lime-transport-websocket code).
    #[getter]
    fn open(&self) -> bool {
        self.shared.info().open
    }

    /// `not open`, also as in websockets.
    #[getter]
    fn closed(&self) -> bool {
        !self.shared.info().open
    }

    #[getter]
    fn encryption(&self) -> String {
        self.shared.info().encryption.clone()
    }

    #[getter]
    fn compression(&self) -> String {
        self.shared.info().compression.clone()
    }

    #[getter]
    fn subprotocol(&self) -> Option<String> {
        self.shared.info().subprotocol.clone()
    }

    fn supported_encryption(&self) -> Vec<String> {
        self.shared.info().supported_encryption.clone()
    }

    fn supported_compression(&self) -> Vec<String> {
        self.shared.info().supported_compression.clone()
    }
}

/// Reads a lime-python `Message` object (`id`, `from_n`, `to`, `pp`, `metadata`, `type_n`,
/// `content`) as an envelope; values are taken as `to_json` would write them.
fn message_from_object(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Envelope> {
    let attrs = obj.getattr(pyo3::intern!(py, "__dict__"))?;
    let attrs = attrs.cast::<pyo3::types::PyDict>()?;
    let text = |key: &str| -> PyResult<Option<String>> {
        match attrs.get_item(key)? {
            None => Ok(None),
            Some(v) if v.is_none() => Ok(None),
            Some(v) => match v.cast::<pyo3::types::PyString>() {
                Ok(s) => Ok(Some(s.to_cow()?.into_owned())),
                Err(_) => Ok(Some(v.str()?.to_cow()?.into_owned())),
            },
        }
    };
    let parse_err = |e: lime::ParseError| errors::envelope_parse(py, e.to_string());
    let node = |key: &str| -> PyResult<Option<lime::Node>> {
        text(key)?.map(|s| s.parse::<lime::Node>().map_err(parse_err)).transpose()
    };
    let id = match attrs.get_item("id")? {
        Some(v) if !v.is_none() => Some(
            v.cast::<pyo3::types::PyString>()
                .map_err(|_| errors::envelope_parse(py, "invalid `id`: expected a string".into()))?
                .to_cow()?
                .into_owned(),
        ),
        _ => None,
    };
    let metadata = match attrs.get_item("metadata")? {
        Some(v) if !v.is_none() => {
            let mut md = lime::Metadata::new();
            for (k, v) in v.cast::<pyo3::types::PyDict>()?.iter() {
                let key = k.str()?.to_cow()?.into_owned();
                if v.is_none() {
                    continue;
                }
                let value = match v.cast::<pyo3::types::PyString>() {
                    Ok(s) => s.to_cow()?.into_owned(),
                    Err(_) => crate::convert::from_py(&v)?.to_string(),
                };
                md.insert(key, value);
            }
            Some(md)
        }
        _ => None,
    };
    let content = match (text("type_n")?, attrs.get_item("content")?) {
        (_, None) => None,
        (_, Some(c)) if c.is_none() => None,
        (None, Some(_)) => {
            return Err(errors::envelope_parse(
                py,
                "invalid `type`: `content` requires a media type in `type`".into(),
            ))
        }
        (Some(ty), Some(c)) => {
            let media_type: lime::MediaType = ty.parse().map_err(parse_err)?;
            Some(lime::Document::new(media_type, crate::convert::from_py(&c)?))
        }
    };
    Ok(Envelope::Message(lime::Message {
        id,
        from: node("from_n")?,
        pp: node("pp")?,
        to: node("to")?,
        metadata,
        content,
    }))
}

/// Builds a message or notification object without a round trip through a dict: the same
/// attributes, in the same order, as their `from_json`.
fn build_object<'py>(
    py: Python<'py>,
    classes: &Classes,
    env: &Envelope,
) -> PyResult<Bound<'py, PyAny>> {
    let (class, extra): (&Py<PyAny>, Vec<(&str, Bound<'py, PyAny>)>) = match env {
        Envelope::Message(m) => {
            let (ty, content) = match &m.content {
                Some(doc) => (
                    pyo3::types::PyString::new(py, doc.media_type().as_str()).into_any(),
                    crate::convert::document_to_py(py, doc)?,
                ),
                None => (py.None().into_bound(py), py.None().into_bound(py)),
            };
            (&classes.message, vec![("type_n", ty), ("content", content)])
        }
        Envelope::Notification(n) => {
            let reason = match &n.reason {
                Some(r) => classes.reason.bind(py).call1((r.code, r.description.as_deref()))?,
                None => py.None().into_bound(py),
            };
            (
                &classes.notification,
                vec![
                    ("event", pyo3::types::PyString::new(py, n.event.as_str()).into_any()),
                    ("reason", reason),
                ],
            )
        }
        other => return received_to_py(py, other),
    };
    let class = class.bind(py);
    let obj = class.call_method1(pyo3::intern!(py, "__new__"), (class,))?;
    let attrs = obj.getattr(pyo3::intern!(py, "__dict__"))?;
    let attrs = attrs.cast::<pyo3::types::PyDict>()?;
    let node = |n: Option<&lime::Node>| match n {
        Some(n) => pyo3::types::PyString::new(py, &n.to_string()).into_any(),
        None => py.None().into_bound(py),
    };
    attrs.set_item("id", env.id())?;
    attrs.set_item("from_n", node(env.from_node()))?;
    attrs.set_item("to", node(env.to()))?;
    attrs.set_item("pp", node(env.pp()))?;
    match env.metadata() {
        Some(md) => {
            let d = pyo3::types::PyDict::new(py);
            for (k, v) in md {
                d.set_item(k, v)?;
            }
            attrs.set_item("metadata", d)?;
        }
        None => attrs.set_item("metadata", py.None())?,
    }
    for (k, v) in extra {
        attrs.set_item(k, v)?;
    }
    Ok(obj)
}

async fn run(
    shared: Arc<Shared>,
    mut transport: Box<dyn Transport>,
    mut rx: mpsc::UnboundedReceiver<Out>,
) {
    let mut waiters = Vec::new();
    let mut batch = Vec::new();
    let end: Option<String> = loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Send(bytes)) => {
                    batch.extend(bytes);
                    let mut close = None;
                    while let Ok(more) = rx.try_recv() {
                        match more {
                            Out::Send(b) => batch.extend(b),
                            Out::Close(w) => {
                                close = Some(w);
                                break;
                            }
                        }
                    }
                    if let Err(e) = transport.send_many(&mut batch).await {
                        if !matches!(e, lime::TransportError::EnvelopeTooLarge { .. }) {
                            break Some(e.to_string());
                        }
                    }
                    if let Some(w) = close {
                        waiters.push(w);
                        break None;
                    }
                }
                Some(Out::Close(w)) => {
                    waiters.push(w);
                    break None;
                }
                None => break None,
            },
            received = transport.receive() => match received {
                Ok(Some(env)) => match handle(&shared, transport.as_mut(), env).await {
                    Ok(true) => {}
                    Ok(false) => break None,
                    Err(e) => break Some(e),
                },
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            },
        }
    };
    let _ = transport.close().await;
    shared.info().open = false;
    let mut items = Vec::new();
    if let Some(core) = shared.core() {
        let mut core = lock(&core);
        core.fail();
        items.extend(core.drain_pending().into_iter().map(|(_, future)| Item::Fail(future)));
    }
    items.push(Item::Closed(end));
    shared.push(items);
    for w in waiters {
        let _ = w.send(());
    }
}

/// Processes one received envelope; Ok(false) when the session ended.
async fn handle(
    shared: &Shared,
    transport: &mut dyn Transport,
    env: Envelope,
) -> Result<bool, String> {
    let Some(core) = shared.core() else {
        shared.push([Item::Envelope(env)]);
        return Ok(true);
    };
    let inbound = lock(&core).receive(env).map_err(|e| e.to_string())?;
    if let Some(reply) = &inbound.reply {
        transport.send(reply).await.map_err(|e| e.to_string())?;
    }
    let mut items = Vec::with_capacity(2);
    if let Some((response, future)) = inbound.response {
        items.push(Item::Resolve(future, response.into()));
    }
    if let Some(session) = inbound.session {
        let confirmation = session.state == SessionState::Negotiating
            && (session.encryption.is_some() || session.compression.is_some());
        if confirmation {
            if let Some(e) = session.encryption.filter(|e| *e != transport.encryption()) {
                transport.set_encryption(e).await.map_err(|e| e.to_string())?;
            }
            if let Some(c) = session.compression.filter(|c| *c != transport.compression()) {
                transport.set_compression(c).await.map_err(|e| e.to_string())?;
            }
            let mut info = shared.info();
            info.encryption = transport.encryption().as_str().to_owned();
            info.compression = transport.compression().as_str().to_owned();
        }
        items.push(Item::Session(session));
    }
    if let Some(deliver) = inbound.deliver {
        items.push(Item::Deliver(deliver));
    }
    shared.push(items);
    Ok(!inbound.close)
}

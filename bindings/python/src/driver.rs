//! `LoopConnection`: one LIME client connection driven by the asyncio event loop.
//!
//! The object is the `asyncio.Protocol` of a plain socket that asyncio owns
//! (`loop.create_connection(lambda: connection, host, port)`): asyncio calls
//! [`data_received`](LoopConnection::data_received) with what the socket delivered, and that one
//! native call runs the sans-IO [`ClientConnection`] (TLS, WebSocket or TCP framing, gzip, the
//! channel core with its automatic replies), writes what it produced to the asyncio transport,
//! resolves command futures and hands the deliveries to Python in one batch. Sends write into
//! the asyncio transport before they return; timers are one `loop.call_later` at the
//! connection's next deadline. Everything runs on the loop thread: no tokio, no other thread.
//!
//! Once a channel is attached, this object is also the channel's core (`channel._core`): the
//! session state, ids and command correlation live in the connection, and the methods of
//! `ChannelCore` that the channel calls are answered here.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Mutex, MutexGuard, OnceLock, PoisonError},
    time::{Duration, Instant},
};

use lime::{
    channel::{self, ChannelOptions, ClientOptions, IdPolicy, Role, Snapshot},
    connection::{ClientConnection, CommandToken, Event},
    transport::tls::ClientTlsConfig,
    CommandMethod, CommandStatus, Envelope, SessionCompression, SessionEncryption, SessionState,
    DEFAULT_MAX_ENVELOPE_SIZE,
};
use pyo3::{
    exceptions::PyValueError,
    gc::PyVisit,
    intern,
    prelude::*,
    types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple},
    PyTraverseError,
};

use crate::{
    channel::{credentials, negotiation, parse_opt_node, to_py_env, ChannelCore},
    convert::{envelope_from_py, envelope_to_py, received_to_py},
    errors, ids,
    wake::{self, Callback},
};

/// The default bound of what may wait for the peer (asyncio's write buffer plus the
/// connection's output) once asyncio asked to pause writing.
pub(crate) const DEFAULT_MAX_WRITE_BUFFER: usize = 16 * 1024 * 1024;

/// Python classes instantiated directly for the hot envelope kinds (the same attributes, in
/// the same order, as their `from_json`).
struct Classes {
    message: Py<PyAny>,
    notification: Py<PyAny>,
    reason: Py<PyAny>,
    /// Commands (responses and deliveries) as objects too, when given.
    command: Option<Py<PyAny>>,
}

struct State {
    conn: ClientConnection,
    /// Builds and checks the handshake envelopes and command requests the channel asks for
    /// before it sends them (restored from the connection before each use).
    scratch: channel::ChannelCore<()>,
    /// Command requests registered by the channel, not sent yet: id → future.
    registered: HashMap<String, Py<PyAny>>,
    /// Command requests sent: token → (id, future).
    commands: HashMap<u64, (String, Py<PyAny>)>,
    by_id: HashMap<String, u64>,
    /// Command requests sent as the host's own JSON (`send_text`), which the connection does
    /// not correlate: id → future, resolved by the response delivered as a command.
    verbatim: HashMap<String, Py<PyAny>>,
    /// The asyncio transport, from `connection_made` to `connection_lost`.
    transport: Option<Py<PyAny>>,
    /// asyncio asked to pause writing (its buffer is above the high-water mark).
    paused: bool,
    /// The socket's descriptor, written to directly while asyncio holds nothing unwritten for
    /// it (see [`LoopConnection::write_out`]); None for a transport that is not a plain socket
    /// one, and from `close` or `connection_lost` on.
    fd: Option<i32>,
    /// Bytes were handed to `transport.write` and asyncio may still hold some of them: the
    /// next write asks `get_write_buffer_size` before it goes to the socket directly.
    handed_off: bool,
    /// The `errno` of the first direct send that failed (see [`LoopConnection::write_out`]).
    send_error: Option<i32>,
    /// `drain()` futures, resolved at `resume_writing` or the end.
    drains: Vec<Py<PyAny>>,
    /// The armed timer: its deadline and `TimerHandle`.
    timer: Option<(Instant, Py<PyAny>)>,
    /// A send was written since the loop last ran this connection for its own sake (data
    /// arrived, or `_on_turn_end` ran): later sends leave their bytes in the connection's
    /// output (up to [`COALESCE_LIMIT`]) for `_on_turn_end` to write in one `transport.write`
    /// (see [`LoopConnection::flush_send`]).
    wrote: bool,
    /// `_on_turn_end` is queued with `loop.call_soon`.
    flush_queued: bool,
    /// The received deliveries are being handed to Python: what their callbacks send is
    /// written once `on_batch` returns.
    dispatching: bool,
    attached: bool,
    ready: bool,
    /// The socket is gone (`connection_lost`).
    lost: bool,
    /// Why the socket was lost, reported with the end when the connection had no error.
    lost_error: Option<String>,
    /// The loop is running this connection for a read or a timer (no task runs): command
    /// futures completed now wake their tasks when it is done (see [`LoopConnection::woken`]).
    wake_now: bool,
    /// Those futures and their callbacks.
    wakeups: Vec<(Py<PyAny>, Vec<Callback>)>,
}

/// A LIME client connection run on the asyncio loop (see `_lime.pyi`).
#[pyclass(module = "lime_python._lime", frozen, subclass)]
pub(crate) struct LoopConnection {
    state: Mutex<State>,
    on_batch: Py<PyAny>,
    event_loop: Py<PyAny>,
    ready: Py<PyAny>,
    lost: Py<PyAny>,
    classes: OnceLock<Classes>,
    /// The buffer asyncio reads the socket into when this object is its `BufferedProtocol`
    /// (`get_buffer`/`buffer_updated`), made at the first read.
    read_buffer: OnceLock<Py<PyByteArray>>,
    /// The `str` of the nodes and media types the received envelopes named last (see
    /// [`ReceivedTexts`]).
    texts: ReceivedTexts,
    uri: String,
    websocket: bool,
    max_write_buffer: usize,
    /// `asyncio.Future` and `{"loop": loop}` when the loop's `create_future` is asyncio's own,
    /// a Python method that does only that: the future of a request is then made by one call
    /// of the C type (see [`LoopConnection::create_future`]).
    future_type: Option<(Py<PyAny>, Py<PyDict>)>,
    /// The loop may close the sockets of its transports when it is closed, without
    /// `connection_lost` (any loop but asyncio's selector loops; uvloop does).
    loop_closes_sockets: bool,
}

/// The TLS configuration of a connection: the Mozilla roots unless `use_default_roots` is
/// false (then only `ca`, as `use_default_roots` of the other hosts), plus `ca`, plus the client
/// certificate.
fn tls_config(
    use_default_roots: bool,
    ca: Option<&[u8]>,
    cert: Option<&[u8]>,
    key: Option<&[u8]>,
) -> Result<ClientTlsConfig, lime::TransportError> {
    let mut builder = ClientTlsConfig::builder();
    if !use_default_roots {
        builder = builder.without_default_roots();
    }
    if let Some(ca) = ca {
        builder = builder.add_roots_pem(ca)?;
    }
    if let (Some(cert), Some(key)) = (cert, key) {
        builder = builder.client_certificate_pem(cert, key)?;
    }
    builder.build()
}

fn resolve(py: Python<'_>, future: &Py<PyAny>, value: Bound<'_, PyAny>) -> PyResult<()> {
    let done: bool = future.call_method0(py, intern!(py, "done"))?.extract(py)?;
    if !done {
        future.call_method1(py, intern!(py, "set_result"), (value,))?;
    }
    Ok(())
}

fn reject(py: Python<'_>, future: &Py<PyAny>, error: &PyErr) -> PyResult<()> {
    let done: bool = future.call_method0(py, intern!(py, "done"))?.extract(py)?;
    if !done {
        future.call_method1(py, intern!(py, "set_exception"), (error.value(py),))?;
    }
    Ok(())
}

/// `asyncio.TimeoutError` (the builtin `TimeoutError` from Python 3.11 on).
fn asyncio_timeout(py: Python<'_>, message: String) -> PyErr {
    match py.import("asyncio").and_then(|m| m.getattr("TimeoutError")?.call1((message,))) {
        Ok(error) => PyErr::from_value(error),
        Err(e) => e,
    }
}

fn wants_id(envelope: &Envelope, ids: IdPolicy) -> bool {
    match (envelope, ids) {
        (Envelope::Session(_), _) => false,
        (_, IdPolicy::All) => true,
        (Envelope::Command(c), IdPolicy::Commands) => c.method != CommandMethod::Observe,
        _ => false,
    }
}

impl State {
    /// The scratch core, with the connection's state and options.
    fn scratch(&mut self) -> &mut channel::ChannelCore<()> {
        let options = self.conn.channel_options_mut().clone();
        self.scratch.restore(self.conn.snapshot());
        *self.scratch.options_mut() = options;
        &mut self.scratch
    }

    fn update(&mut self, change: impl FnOnce(&mut Snapshot)) {
        let mut snapshot = self.conn.snapshot();
        change(&mut snapshot);
        self.conn.restore(snapshot);
    }

    /// Every command future, forgotten by the connection.
    fn take_futures(&mut self) -> Vec<Py<PyAny>> {
        let mut futures: Vec<Py<PyAny>> = self.registered.drain().map(|(_, f)| f).collect();
        futures.extend(self.verbatim.drain().map(|(_, f)| f));
        for (token, (_, future)) in self.commands.drain() {
            self.conn.cancel_command(CommandToken(token));
            futures.push(future);
        }
        self.by_id.clear();
        futures
    }
}

impl LoopConnection {
    /// Ends the connection: the connection's own closing bytes written first when
    /// `write_first` (else dropped with what asyncio holds), then the asyncio transport's
    /// `method` (`close` or `abort`); without a transport, `lost` resolves here.
    fn end(slf: &Bound<'_, Self>, write_first: bool, method: &Bound<'_, PyString>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (transport, lost) = {
            let mut s = this.lock();
            s.conn.close();
            (s.transport.as_ref().map(|t| t.clone_ref(py)), s.lost)
        };
        if write_first {
            Self::flush(slf)?;
        }
        if let Some(transport) = transport {
            this.lock().fd = None;
            transport.call_method0(py, method)?;
        } else if !lost {
            resolve(py, &this.lost, py.None().into_bound(py))?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the pending output to the socket, hands the events to Python and re-arms the
    /// timer: what follows every call that fed or drove the connection.
    fn flush(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (output, events, transport) = {
            let mut s = this.lock();
            let transport = s.transport.as_ref().map(|t| t.clone_ref(py));
            let output = if transport.is_some() { s.conn.take_output() } else { Vec::new() };
            let events: Vec<Event> = s.conn.drain_events().collect();
            (output, events, transport)
        };
        if let (false, Some(transport)) = (output.is_empty(), &transport) {
            this.write_out(py, transport, &output)?;
        }
        if !events.is_empty() {
            this.lock().dispatching = true;
            let dispatched = Self::dispatch(slf, events);
            let (output, transport) = {
                let mut s = this.lock();
                s.dispatching = false;
                match s.transport.as_ref().map(|t| t.clone_ref(py)) {
                    Some(t) if !s.conn.pending_output().is_empty() => {
                        (s.conn.take_output(), Some(t))
                    }
                    _ => (Vec::new(), None),
                }
            };
            // what the callbacks sent, in one write
            if let Some(transport) = transport {
                this.write_out(py, &transport, &output)?;
            }
            dispatched?;
        }
        Self::arm(slf)
    }

    /// A new future of the loop, as `loop.create_future()` makes it.
    fn create_future(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.future_type {
            Some((future, kwargs)) => Ok(future.bind(py).call((), Some(kwargs.bind(py)))?.unbind()),
            None => self.event_loop.call_method0(py, intern!(py, "create_future")),
        }
    }

    /// Writes `bytes` to the peer. While asyncio holds nothing unwritten for the socket, they go
    /// to it directly (one `send`, without the `bytes` object and the Python call of
    /// `transport.write`); what the socket does not take at once, and everything while asyncio
    /// still holds bytes or paused writing, goes through `transport.write`, which keeps the
    /// order, buffers and reports errors as asyncio does.
    fn write_out(&self, py: Python<'_>, transport: &Py<PyAny>, bytes: &[u8]) -> PyResult<()> {
        let mut rest = bytes;
        let direct = {
            let s = self.lock();
            match (s.paused, s.fd) {
                (false, Some(fd)) => Some((fd, s.handed_off)),
                _ => None,
            }
        };
        if let Some((fd, handed_off)) = direct {
            if self.may_send_directly(py, transport, handed_off)? {
                self.lock().handed_off = false;
                match socket_send(fd, rest) {
                    Ok(sent) => rest = &rest[sent..],
                    // `transport.write` meets the socket's end too and reports it, but the
                    // kernel reports a reset once: `connection_lost` names this one.
                    Err(code) => {
                        self.lock().send_error.get_or_insert(code);
                    }
                }
                if rest.is_empty() {
                    return Ok(());
                }
            }
        }
        self.lock().handed_off = true;
        transport.call_method1(py, intern!(py, "write"), (PyBytes::new(py, rest),)).map(drop)
    }

    /// Whether a write may go to the socket directly: the loop still owns it open (uvloop
    /// closes its sockets when it is closed, without `connection_lost`; asyncio's selector
    /// loops leave them to their transports), and asyncio holds nothing for it (after bytes were
    /// handed to `transport.write`: none wait, and the transport is not closing, as after a
    /// fatal error that dropped them).
    fn may_send_directly(
        &self,
        py: Python<'_>,
        transport: &Py<PyAny>,
        handed_off: bool,
    ) -> PyResult<bool> {
        if self.loop_closes_sockets
            && self.event_loop.call_method0(py, intern!(py, "is_closed"))?.is_truthy(py)?
        {
            return Ok(false);
        }
        if !handed_off {
            return Ok(true);
        }
        if transport.call_method0(py, intern!(py, "is_closing"))?.is_truthy(py)? {
            return Ok(false);
        }
        let waiting: usize =
            transport.call_method0(py, intern!(py, "get_write_buffer_size"))?.extract(py)?;
        Ok(waiting == 0)
    }

    /// Arms `loop.call_later` at the next deadline, unless a timer for it (or earlier) is
    /// armed. A timer that fires early finds nothing to do and re-arms.
    fn arm(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (deadline, delay, previous) = {
            let mut s = this.lock();
            let Some(deadline) = s.conn.next_deadline() else { return Ok(()) };
            if s.timer.as_ref().is_some_and(|(armed, _)| *armed <= deadline) {
                return Ok(());
            }
            let delay = s.conn.next_timeout().unwrap_or_default();
            (deadline, delay, s.timer.take())
        };
        if let Some((_, handle)) = previous {
            handle.call_method0(py, intern!(py, "cancel"))?;
        }
        let callback = slf.getattr(intern!(py, "_on_timer"))?;
        let handle = this.event_loop.call_method1(
            py,
            intern!(py, "call_later"),
            (delay.as_secs_f64(), callback),
        )?;
        this.lock().timer = Some((deadline, handle));
        Ok(())
    }

    /// Runs the events: command futures resolved here, the rest handed to `on_batch` as
    /// `(kind, payload)` items in arrival order.
    fn dispatch(slf: &Bound<'_, Self>, events: Vec<Event>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let attached = this.lock().attached;
        let batch = PyList::empty(py);
        let item = |kind: &Bound<'_, PyString>, payload: Bound<'_, PyAny>| -> PyResult<()> {
            batch.append(PyTuple::new(py, [kind.clone().into_any(), payload])?)
        };
        for event in events {
            match event {
                Event::Session(s) if attached => {
                    item(intern!(py, "session"), envelope_to_py(py, &s.into())?)?;
                }
                Event::Message(m) if attached => {
                    let e = Envelope::Message(m);
                    item(intern!(py, "message"), this.object(py, &e)?)?;
                }
                Event::Notification(n) if attached => {
                    let e = Envelope::Notification(n);
                    item(intern!(py, "notification"), this.object(py, &e)?)?;
                }
                Event::Command(c) if attached => {
                    let verbatim = match (&c.id, c.status) {
                        (Some(id), status) if status != CommandStatus::Pending => {
                            this.lock().verbatim.remove(id)
                        }
                        _ => None,
                    };
                    match verbatim {
                        Some(future) => {
                            Self::complete(slf, &future, Ok(received_to_py(py, &c.into())?))?;
                        }
                        None => item(intern!(py, "command"), this.object(py, &c.into())?)?,
                    }
                }
                Event::Session(s) => item(intern!(py, "envelope"), envelope_to_py(py, &s.into())?)?,
                Event::Message(m) => item(intern!(py, "envelope"), received_to_py(py, &m.into())?)?,
                Event::Notification(n) => {
                    item(intern!(py, "envelope"), received_to_py(py, &n.into())?)?;
                }
                Event::Command(c) => item(intern!(py, "envelope"), received_to_py(py, &c.into())?)?,
                Event::CommandResponse { token, response } => {
                    let future = this.forget(token);
                    if let Some(future) = future {
                        Self::complete(slf, &future, Ok(this.object(py, &response.into())?))?;
                    }
                }
                Event::CommandFailed { token, error } => {
                    if let Some(future) = this.forget(token) {
                        let error = match error.category() {
                            // only `request_with` gives a command a timeout
                            lime::ErrorCategory::Timeout => asyncio_timeout(py, error.to_string()),
                            _ => errors::closed(
                                py,
                                "The connection was closed before the response arrived".into(),
                            ),
                        };
                        Self::complete(slf, &future, Err(&error))?;
                    }
                }
                Event::Closed { error } => Self::on_closed(slf, error, &batch)?,
                _ => {}
            }
        }
        if !batch.is_empty() {
            this.on_batch.call1(py, (batch,))?;
        }
        Ok(())
    }

    /// The end of the connection: fails what waits, stops the timer, closes the socket once
    /// the output is written, and reports the end (`('closed', error)`), or fails the opening.
    fn on_closed(
        slf: &Bound<'_, Self>,
        error: Option<lime::Error>,
        batch: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let (futures, drains, timer, transport, ready, lost_error) = {
            let mut s = this.lock();
            let futures = s.take_futures();
            let drains = std::mem::take(&mut s.drains);
            (
                futures,
                drains,
                s.timer.take(),
                s.transport.as_ref().map(|t| t.clone_ref(py)),
                s.ready,
                s.lost_error.take(),
            )
        };
        let closed =
            errors::closed(py, "The connection was closed before the response arrived".into());
        for future in futures {
            Self::complete(slf, &future, Err(&closed))?;
        }
        let ended = errors::closed(py, "The connection is closed".into());
        for future in drains {
            reject(py, &future, &ended)?;
        }
        if let Some((_, handle)) = timer {
            handle.call_method0(py, intern!(py, "cancel"))?;
        }
        if let Some(transport) = transport {
            this.lock().fd = None;
            transport.call_method0(py, intern!(py, "close"))?;
        }
        if !ready {
            let error = match &error {
                Some(e) => errors::open_failed(py, &this.uri, e),
                None => errors::closed(
                    py,
                    format!("cannot open {}: the connection was closed", this.uri),
                ),
            };
            return reject(py, &this.ready, &error);
        }
        let text = error.map(|e| e.to_string()).or(lost_error);
        let payload = match text {
            Some(text) => PyString::new(py, &text).into_any(),
            None => py.None().into_bound(py),
        };
        batch.append(PyTuple::new(py, [intern!(py, "closed").clone().into_any(), payload])?)
    }

    /// Feeds a chunk read from the socket to the connection; true when it completed the
    /// opening (the WebSocket upgrade).
    fn receive(&self, data: &[u8]) -> bool {
        let mut s = self.lock();
        s.wrote = false;
        // An error is also queued as the Closed event, handled by flush.
        let _ = s.conn.receive(data);
        let upgraded = !s.ready && s.conn.subprotocol().is_some() && !s.conn.is_closed();
        if upgraded {
            s.ready = true;
        }
        upgraded
    }

    /// What follows a received chunk: the opening resolved, then the output, events and timer.
    fn received(slf: &Bound<'_, Self>, now_ready: bool) -> PyResult<()> {
        let py = slf.py();
        if now_ready {
            resolve(py, &slf.get().ready, py.None().into_bound(py))?;
        }
        Self::flush(slf)
    }

    /// Registers a command request with the connection and writes it (an id given when it has
    /// none); its response or timeout completes `completion`. Returns the id.
    fn send_request(
        &self,
        py: Python<'_>,
        mut command: lime::Command,
        timeout: Option<Duration>,
        completion: Py<PyAny>,
    ) -> PyResult<String> {
        if command.id.as_deref().is_none_or(str::is_empty) {
            command.id = Some(ids::new_id());
        }
        let id = command.id.clone().unwrap_or_default();
        let mut s = self.lock();
        if s.registered.contains_key(&id)
            || s.by_id.contains_key(&id)
            || s.verbatim.contains_key(&id)
        {
            return Err(PyValueError::new_err(lime::CommandError::DuplicateId(id).to_string()));
        }
        let token = s.conn.send_command(command, timeout).map_err(|e| errors::from_core(py, &e))?;
        s.by_id.insert(id.clone(), token.0);
        s.commands.insert(token.0, (id.clone(), completion));
        Ok(id)
    }

    /// Completes a command's future with its response or error. Completed while the loop runs
    /// this connection for a read or a timer, the future's callbacks (its task's wake-up) are
    /// run by [`woken`](Self::woken) when that is done (see [`wake`]); otherwise completing it
    /// schedules them, as usual.
    fn complete(
        slf: &Bound<'_, Self>,
        future: &Py<PyAny>,
        outcome: Result<Bound<'_, PyAny>, &PyErr>,
    ) -> PyResult<()> {
        let py = slf.py();
        let callbacks = match slf.get().lock().wake_now {
            true => wake::take_callbacks(future.bind(py))?,
            false => None,
        };
        let completed = match (&callbacks, outcome) {
            // pending (take_callbacks found it so, and nothing ran since)
            (Some(_), Ok(value)) => {
                future.call_method1(py, intern!(py, "set_result"), (value,)).map(drop)
            }
            (Some(_), Err(error)) => {
                future.call_method1(py, intern!(py, "set_exception"), (error.value(py),)).map(drop)
            }
            (None, Ok(value)) => resolve(py, future, value),
            (None, Err(error)) => reject(py, future, error),
        };
        if let Some(callbacks) = callbacks.filter(|c| !c.is_empty()) {
            slf.get().lock().wakeups.push((future.clone_ref(py), callbacks));
        }
        completed
    }

    /// Runs `handle` (a read or a timer, called by the loop, never inside a task), then wakes the
    /// tasks of the command futures it completed: their coroutines resume now, after the
    /// deliveries' callbacks and writes, instead of one event-loop turn later.
    fn woken<R>(slf: &Bound<'_, Self>, handle: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
        let py = slf.py();
        let this = slf.get();
        this.lock().wake_now = true;
        let handled = handle();
        let wakeups = {
            let mut s = this.lock();
            s.wake_now = false;
            std::mem::take(&mut s.wakeups)
        };
        let event_loop = this.event_loop.bind(py);
        let mut woke = Ok(());
        for (future, callbacks) in wakeups {
            let future = future.bind(py);
            woke = match woke {
                Ok(()) => wake::run(event_loop, future, callbacks),
                Err(error) => wake::schedule(event_loop, future, callbacks).and(Err(error)),
            };
        }
        let value = handled?;
        woke.map(|()| value)
    }

    fn forget(&self, token: CommandToken) -> Option<Py<PyAny>> {
        let mut s = self.lock();
        let (id, future) = s.commands.remove(&token.0)?;
        s.by_id.remove(&id);
        Some(future)
    }

    /// A message, notification or command as an instance of its class (a dict without the
    /// classes).
    fn object<'py>(&self, py: Python<'py>, env: &Envelope) -> PyResult<Bound<'py, PyAny>> {
        match self.classes.get() {
            Some(classes) => build_object(py, classes, &self.texts, env),
            None => received_to_py(py, env),
        }
    }

    /// Refuses a send while asyncio paused writing and what waits for the peer exceeds the
    /// bound.
    fn check_room(&self, py: Python<'_>) -> PyResult<()> {
        if !self.lock().paused {
            return Ok(());
        }
        let waiting = self.write_buffer_size(py)?;
        if waiting > self.max_write_buffer {
            return Err(errors::write_buffer_full(
                py,
                format!(
                    "the peer is not reading: {} bytes wait to be written (limit {}); await \
                     transport.drain() before sending more",
                    waiting, self.max_write_buffer
                ),
            ));
        }
        Ok(())
    }

    /// Sends an envelope the channel or the user built: ids as the channel's policy wants, a
    /// registered command request through the connection's correlation.
    fn send_envelope(slf: &Bound<'_, Self>, mut env: Envelope) -> PyResult<Option<String>> {
        let py = slf.py();
        let this = slf.get();
        this.check_room(py)?;
        let id = {
            let mut s = this.lock();
            let ids = s.conn.channel_options_mut().ids;
            if env.id().is_none() && wants_id(&env, ids) {
                env.set_id(Some(ids::new_id()));
            }
            let id = env.id().map(str::to_owned);
            let registered = match (&env, &id) {
                (Envelope::Command(c), Some(id)) if c.status == CommandStatus::Pending => {
                    s.registered.remove(id).map(|f| (id.clone(), f))
                }
                _ => None,
            };
            match (env, registered) {
                (Envelope::Command(command), Some((id, future))) => {
                    match s.conn.send_command(command, None) {
                        Ok(token) => {
                            s.by_id.insert(id.clone(), token.0);
                            s.commands.insert(token.0, (id, future));
                        }
                        Err(e) => {
                            s.registered.insert(id, future);
                            return Err(errors::from_core(py, &e));
                        }
                    }
                }
                (env, _) => s.conn.send(env).map_err(|e| errors::from_core(py, &e))?,
            }
            id
        };
        Self::flush_send(slf)?;
        Ok(id)
    }

    /// Writes what a send produced, or leaves it for one later `transport.write` (one `send`
    /// system call for a burst instead of one per envelope):
    /// - a send made by a delivery callback (inside `data_received`) is written with the
    ///   others of that chunk when the callbacks return;
    /// - otherwise a send writes at once, unless an earlier send already wrote since data last
    ///   arrived (or since `_on_turn_end` last ran): then its bytes wait in the connection's
    ///   output and `_on_turn_end`, queued once with `loop.call_soon`, writes them at the end
    ///   of the event-loop turn.
    ///
    /// So a lone request (a command and its response, a reply) goes out at once and queues no
    /// callback, and a burst of sends costs two writes. The output waiting this way stays below
    /// [`COALESCE_LIMIT`]: past it, the send writes.
    fn flush_send(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let queue = {
            let mut s = this.lock();
            if s.conn.pending_output().len() >= COALESCE_LIMIT {
                false
            } else if s.dispatching {
                return Ok(());
            } else if !s.wrote {
                s.wrote = true;
                false
            } else if s.flush_queued {
                return Ok(());
            } else {
                s.flush_queued = true;
                true
            }
        };
        if queue {
            let callback = slf.getattr(intern!(py, "_on_turn_end"))?;
            this.event_loop.call_method1(py, intern!(py, "call_soon"), (callback,))?;
            return Ok(());
        }
        Self::flush(slf)
    }
}

/// `asyncio.Future` and the keyword arguments that make a future of `event_loop`, when the
/// loop's `create_future` is `asyncio.BaseEventLoop`'s (which does just that); None for other
/// loops (uvloop's is native already; a loop of the user's may make its own futures).
fn asyncio_future_type(
    asyncio: &Bound<'_, PyModule>,
    event_loop: &Bound<'_, PyAny>,
) -> PyResult<Option<(Py<PyAny>, Py<PyDict>)>> {
    let py = event_loop.py();
    let base = asyncio.getattr("BaseEventLoop")?.getattr("create_future")?;
    let own = event_loop.get_type().getattr("create_future")?;
    if !own.is(&base) {
        return Ok(None);
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("loop", event_loop)?;
    Ok(Some((asyncio.getattr("Future")?.unbind(), kwargs.unbind())))
}

/// The descriptor of `transport`'s socket when bytes may be sent to it directly: a stream
/// socket with no TLS of asyncio's own on it (ours is done in Rust), as asyncio's and uvloop's
/// TCP transports are. None otherwise (then every write goes through `transport.write`).
fn plain_socket_fd(transport: &Bound<'_, PyAny>) -> Option<i32> {
    let py = transport.py();
    let extra = |name: &str| transport.call_method1(intern!(py, "get_extra_info"), (name,)).ok();
    if !cfg!(unix) || extra("sslcontext").is_some_and(|c| !c.is_none()) {
        return None;
    }
    let socket = extra("socket").filter(|s| !s.is_none())?;
    let stream_kind =
        py.import(intern!(py, "socket")).ok()?.getattr(intern!(py, "SOCK_STREAM")).ok()?;
    let stream = socket.getattr(intern!(py, "type")).ok()?.eq(stream_kind).ok()?;
    let fd = socket.call_method0(intern!(py, "fileno")).ok()?.extract::<i32>().ok()?;
    (stream && fd >= 0).then_some(fd)
}

/// Sends what a non-blocking socket takes at once (0 when it is full); the `errno` of any
/// other failure.
#[cfg(unix)]
fn socket_send(fd: i32, bytes: &[u8]) -> Result<usize, i32> {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    // SAFETY: `fd` is the open socket of the connection's transport: it is forgotten at
    // `close` and `connection_lost`, before asyncio closes it, and not used once the loop is
    // closed (see `may_send_directly`); the GIL is held. The `TcpStream` is never dropped, so
    // the descriptor stays asyncio's.
    #[allow(unsafe_code)] // see the SAFETY note
    let stream = std::mem::ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    let mut stream: &std::net::TcpStream = &stream;
    loop {
        match stream.write(bytes) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e.raw_os_error().unwrap_or(0)),
        }
    }
}

#[cfg(not(unix))]
fn socket_send(_fd: i32, _bytes: &[u8]) -> Result<usize, i32> {
    Ok(0)
}

/// Bytes of envelopes sent in one event-loop turn that may wait for the turn's end before
/// being written (see [`LoopConnection::flush_send`]).
const COALESCE_LIMIT: usize = 64 * 1024;

/// The size of the buffer asyncio reads into (see [`LoopConnection::get_buffer`]): asyncio's
/// own read size.
const READ_BUFFER: usize = 256 * 1024;

#[pymethods]
impl LoopConnection {
    #[new]
    #[pyo3(signature = (uri, on_batch, ca_pem = None, client_cert_pem = None, client_key_pem = None, max_envelope_size = DEFAULT_MAX_ENVELOPE_SIZE, max_write_buffer_size = DEFAULT_MAX_WRITE_BUFFER, handshake_timeout = None, remote_ping_interval = None, remote_idle_timeout = None, use_default_roots = true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        uri: String,
        on_batch: Py<PyAny>,
        ca_pem: Option<Vec<u8>>,
        client_cert_pem: Option<Vec<u8>>,
        client_key_pem: Option<Vec<u8>>,
        max_envelope_size: usize,
        max_write_buffer_size: usize,
        handshake_timeout: Option<f64>,
        remote_ping_interval: Option<f64>,
        remote_idle_timeout: Option<f64>,
        use_default_roots: bool,
    ) -> PyResult<Self> {
        let seconds = |name: &str, value: Option<f64>| -> PyResult<Option<Duration>> {
            value
                .map(|v| {
                    Duration::try_from_secs_f64(v).map_err(|_| {
                        PyValueError::new_err(format!(
                            "{name} must be a non-negative number of seconds, not {v}"
                        ))
                    })
                })
                .transpose()
        };
        let defaults = ClientOptions::default();
        let asyncio = py.import("asyncio")?;
        let event_loop = asyncio.call_method0("get_running_loop")?;
        let tls = tls_config(
            use_default_roots,
            ca_pem.as_deref(),
            client_cert_pem.as_deref(),
            client_key_pem.as_deref(),
        )
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let options = ClientOptions {
            max_envelope_size,
            handshake_timeout: seconds("handshake_timeout", handshake_timeout)?
                .unwrap_or(defaults.handshake_timeout),
            remote_ping_interval: seconds("remote_ping_interval", remote_ping_interval)?,
            remote_idle_timeout: seconds("remote_idle_timeout", remote_idle_timeout)?,
            ..defaults
        };
        let mut conn = ClientConnection::connect(&uri, tls, options)
            .map_err(|e| errors::open_failed(py, &uri, &e))?;
        // Used alone, the transport hands every envelope over and answers nothing itself.
        conn.channel_options_mut().auto_reply_pings = false;
        let websocket = !uri.get(..10).unwrap_or(&uri).eq_ignore_ascii_case("net.tcp://");
        let future_type = asyncio_future_type(&asyncio, &event_loop)?;
        let selector_loop = asyncio.getattr("selector_events")?.getattr("BaseSelectorEventLoop")?;
        let loop_closes_sockets = !event_loop.is_instance(&selector_loop)?;
        Ok(Self {
            state: Mutex::new(State {
                conn,
                scratch: channel::ChannelCore::new(Role::Client, ChannelOptions::client()),
                registered: HashMap::new(),
                commands: HashMap::new(),
                by_id: HashMap::new(),
                verbatim: HashMap::new(),
                transport: None,
                paused: false,
                fd: None,
                handed_off: false,
                send_error: None,
                drains: Vec::new(),
                timer: None,
                wrote: false,
                flush_queued: false,
                dispatching: false,
                attached: false,
                ready: false,
                lost: false,
                lost_error: None,
                wake_now: false,
                wakeups: Vec::new(),
            }),
            on_batch,
            ready: event_loop.call_method0("create_future")?.unbind(),
            lost: event_loop.call_method0("create_future")?.unbind(),
            event_loop: event_loop.unbind(),
            classes: OnceLock::new(),
            read_buffer: OnceLock::new(),
            texts: ReceivedTexts::default(),
            future_type,
            loop_closes_sockets,
            uri,
            websocket,
            max_write_buffer: max_write_buffer_size,
        })
    }

    /// Where to open the socket.
    #[getter]
    fn host(&self) -> String {
        self.lock().conn.host().to_owned()
    }

    #[getter]
    fn port(&self) -> u16 {
        self.lock().conn.port()
    }

    /// Resolved when the connection is ready for envelopes (TCP connected; WebSocket upgraded,
    /// after the TLS handshake for wss); fails with the opening error.
    #[getter]
    fn ready(&self, py: Python<'_>) -> Py<PyAny> {
        self.ready.clone_ref(py)
    }

    /// Runs the channel core of `source` (a `ChannelCore` or a previous `LoopConnection`) on
    /// this connection: its options, state, session id and nodes are taken over, and received
    /// envelopes go to Python as deliveries (messages and notifications as instances of the
    /// classes, when given).
    #[pyo3(signature = (source, message_class = None, notification_class = None, reason_class = None, command_class = None))]
    fn attach(
        &self,
        source: &Bound<'_, PyAny>,
        message_class: Option<Py<PyAny>>,
        notification_class: Option<Py<PyAny>>,
        reason_class: Option<Py<PyAny>>,
        command_class: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let (options, snapshot) = if let Ok(core) = source.cast::<ChannelCore>() {
            let core = crate::channel::lock(&core.get().inner);
            (core.options().clone(), core.snapshot())
        } else if let Ok(other) = source.cast::<Self>() {
            let mut s = other.get().lock();
            (s.conn.channel_options_mut().clone(), s.conn.snapshot())
        } else {
            return Err(PyValueError::new_err("attach takes a ChannelCore or a LoopConnection"));
        };
        let mut s = self.lock();
        *s.conn.channel_options_mut() = options;
        s.conn.restore(snapshot);
        s.attached = true;
        drop(s);
        if let (Some(message), Some(notification), Some(reason)) =
            (message_class, notification_class, reason_class)
        {
            let command = command_class;
            let _ = self.classes.set(Classes { message, notification, reason, command });
        }
        Ok(())
    }

    // ----- asyncio.Protocol ------------------------------------------------------------------

    fn connection_made(slf: &Bound<'_, Self>, transport: Py<PyAny>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let ready = {
            let fd = plain_socket_fd(transport.bind(py));
            let mut s = this.lock();
            s.transport = Some(transport);
            s.fd = fd;
            s.ready = !this.websocket;
            s.ready
        };
        Self::flush(slf)?;
        if ready {
            resolve(py, &this.ready, py.None().into_bound(py))?;
        }
        Ok(())
    }

    fn data_received(slf: &Bound<'_, Self>, data: &[u8]) -> PyResult<()> {
        Self::woken(slf, || {
            let now_ready = slf.get().receive(data);
            Self::received(slf, now_ready)
        })
    }

    /// `asyncio.BufferedProtocol`: the buffer the next read goes into (one per connection,
    /// reused, so a read allocates no `bytes` object; asyncio's own event loop allocates
    /// 256 KiB for each otherwise).
    #[allow(unused_variables)]
    fn get_buffer(&self, py: Python<'_>, sizehint: isize) -> Py<PyByteArray> {
        self.read_buffer
            .get_or_init(|| PyByteArray::new(py, &vec![0; READ_BUFFER]).unbind())
            .clone_ref(py)
    }

    /// `asyncio.BufferedProtocol`: `nbytes` were read into the buffer; handled as
    /// `data_received` handles a chunk.
    fn buffer_updated(slf: &Bound<'_, Self>, nbytes: usize) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let Some(buffer) = this.read_buffer.get() else {
            return Err(PyValueError::new_err("buffer_updated before get_buffer"));
        };
        let buffer = buffer.bind(py);
        // SAFETY: the bytes are read in place while the GIL is held and no Python code runs
        // (`receive` is Rust only), so nothing can resize or free the bytearray meanwhile.
        #[allow(unsafe_code)] // see the SAFETY note
        let now_ready = unsafe {
            let bytes = buffer.as_bytes();
            this.receive(&bytes[..nbytes.min(bytes.len())])
        };
        Self::woken(slf, || Self::received(slf, now_ready))
    }

    fn eof_received(slf: &Bound<'_, Self>) -> PyResult<bool> {
        {
            let mut s = slf.get().lock();
            if !s.conn.is_closed() {
                let _ = s.conn.receive_eof();
            }
        }
        Self::flush(slf)?;
        Ok(false)
    }

    #[pyo3(signature = (exc = None))]
    fn connection_lost(slf: &Bound<'_, Self>, exc: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        // What ended the socket, in Python's words. A reset that a direct send met (the kernel
        // reports it once) is the cause of the broken pipe asyncio's write met after it.
        let send_error = this.lock().send_error;
        let cause = match (&exc, send_error) {
            (Some(e), Some(code))
                if e.is_instance_of::<pyo3::exceptions::PyBrokenPipeError>()
                    && std::io::Error::from_raw_os_error(code).kind()
                        != std::io::ErrorKind::BrokenPipe =>
            {
                Some(format!(
                    "[Errno {code}] {}",
                    py.import("os")?.call_method1("strerror", (code,))?
                ))
            }
            (Some(e), _) => Some(e.str()?.to_string()),
            (None, _) => None,
        };
        {
            let mut s = this.lock();
            s.lost = true;
            s.transport = None;
            s.fd = None;
            if !s.conn.is_closed() {
                s.lost_error = cause.map(|c| format!("the connection was lost: {c}"));
                let _ = s.conn.receive_eof();
            }
        }
        let flushed = Self::flush(slf);
        resolve(py, &this.lost, py.None().into_bound(py))?;
        flushed
    }

    fn pause_writing(&self) {
        self.lock().paused = true;
    }

    fn resume_writing(&self, py: Python<'_>) -> PyResult<()> {
        let drains = {
            let mut s = self.lock();
            s.paused = false;
            std::mem::take(&mut s.drains)
        };
        for future in drains {
            resolve(py, &future, py.None().into_bound(py))?;
        }
        Ok(())
    }

    /// The timer callback (`loop.call_later`).
    fn _on_timer(slf: &Bound<'_, Self>) -> PyResult<()> {
        {
            let mut s = slf.get().lock();
            s.timer = None;
            s.conn.handle_timeout(Instant::now());
        }
        Self::woken(slf, || Self::flush(slf))
    }

    /// The end of an event-loop turn in which something was sent (`loop.call_soon` from
    /// [`flush_send`](Self::flush_send)): writes the output the turn's later sends left.
    fn _on_turn_end(slf: &Bound<'_, Self>) -> PyResult<()> {
        {
            let mut s = slf.get().lock();
            s.flush_queued = false;
            s.wrote = false;
        }
        Self::flush(slf)
    }

    // ----- sending ---------------------------------------------------------------------------

    /// Sends a wire dict (or JSON text); returns its id.
    #[allow(unused_variables)]
    fn send_with(
        slf: &Bound<'_, Self>,
        core: &Bound<'_, PyAny>,
        envelope: &Bound<'_, PyAny>,
    ) -> PyResult<Option<String>> {
        let env = envelope_from_py(slf.py(), envelope)?;
        Self::send_envelope(slf, env)
    }

    /// Sends a lime-python `Message` read from its attributes; returns its id.
    #[allow(unused_variables)]
    fn send_message_with(
        slf: &Bound<'_, Self>,
        core: &Bound<'_, PyAny>,
        message: &Bound<'_, PyAny>,
    ) -> PyResult<Option<String>> {
        let env = message_from_object(slf.py(), message)?;
        Self::send_envelope(slf, env)
    }

    /// Registers and sends a command request (a wire dict) in one call, for
    /// `process_command_async`: its response resolves `completion`, an asyncio future, which
    /// fails with `TimeoutError` (`asyncio.TimeoutError`) after `timeout` seconds without one
    /// (None or not above zero: no timeout here). Returns the request's id. Nothing is
    /// registered when it raises.
    #[pyo3(signature = (core, request, completion, timeout = None))]
    #[allow(unused_variables)]
    fn request_with(
        slf: &Bound<'_, Self>,
        core: &Bound<'_, PyAny>,
        request: &Bound<'_, PyAny>,
        completion: Py<PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<String> {
        let py = slf.py();
        let this = slf.get();
        let Envelope::Command(command) = envelope_from_py(py, request)? else {
            return Err(PyValueError::new_err("not a command"));
        };
        this.check_room(py)?;
        let timeout =
            timeout.and_then(|t| Duration::try_from_secs_f64(t).ok()).filter(|t| !t.is_zero());
        let id = this.send_request(py, command, timeout, completion)?;
        Self::flush_send(slf)?;
        Ok(id)
    }

    /// `process_command_async`'s path for an exact lime-python `Command` request: reads its
    /// attributes (no `to_json` dict), registers and sends it in one call, and returns
    /// `(id, future)`: the future, made here on the connection's loop, is resolved with the
    /// response or fails with `TimeoutError` after `timeout` seconds (None or not above zero:
    /// no timeout here). Returns None, registering nothing, for a command this path does not
    /// take as it is (a status, reason or `timeout` set, attributes beyond `Command`'s, a
    /// value that is not plain text, a document the core would rewrite): the caller sends it
    /// the general way, which reports what is wrong with it.
    #[pyo3(signature = (command, timeout = None))]
    fn request<'py>(
        slf: &Bound<'py, Self>,
        command: &Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Option<(String, Py<PyAny>)>> {
        let py = slf.py();
        let this = slf.get();
        let Some(command) = command_from_object(py, command)? else { return Ok(None) };
        this.check_room(py)?;
        let timeout =
            timeout.and_then(|t| Duration::try_from_secs_f64(t).ok()).filter(|t| !t.is_zero());
        let future = this.create_future(py)?;
        let id = this.send_request(py, command, timeout, future.clone_ref(py))?;
        Self::flush_send(slf)?;
        Ok(Some((id, future)))
    }

    /// Sends one envelope (a wire dict or JSON text).
    fn send(slf: &Bound<'_, Self>, envelope: &Bound<'_, PyAny>) -> PyResult<()> {
        let env = envelope_from_py(slf.py(), envelope)?;
        Self::send_envelope(slf, env).map(drop)
    }

    /// Sends JSON text as it is (an envelope the channel prepared, documents as `json.dumps`
    /// wrote them).
    fn send_text(slf: &Bound<'_, Self>, text: &str) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.check_room(py)?;
        {
            let mut s = this.lock();
            // A registered command request: its response is correlated here, by id.
            let request = match s.registered.is_empty() {
                true => None,
                false => match Envelope::from_slice(text.as_bytes()) {
                    Ok(Envelope::Command(c)) if c.status == CommandStatus::Pending => c.id,
                    _ => None,
                },
            };
            let registered = request.and_then(|id| s.registered.remove(&id).map(|f| (id, f)));
            if let Err(e) = s.conn.send_serialized(text.as_bytes()) {
                if let Some((id, future)) = registered {
                    s.registered.insert(id, future);
                }
                return Err(errors::from_core(py, &e));
            }
            if let Some((id, future)) = registered {
                s.verbatim.insert(id, future);
            }
        }
        Self::flush(slf)
    }

    /// Resolved when asyncio accepts writes again (at once when it is not paused).
    fn drain(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let future = self.create_future(py)?;
        let mut s = self.lock();
        if s.paused && !s.conn.is_closed() {
            s.drains.push(future.clone_ref(py));
        } else {
            drop(s);
            resolve(py, &future, py.None().into_bound(py))?;
        }
        Ok(future)
    }

    /// Closes the connection (a WebSocket close frame / TLS close_notify first); the awaitable
    /// resolves once the socket is closed.
    fn close(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        Self::end(slf, true, intern!(slf.py(), "close"))?;
        Ok(slf.get().lost.clone_ref(slf.py()))
    }

    /// Ends the connection at once (`transport.abort()`), dropping what asyncio still holds
    /// for the peer: for a `close` the peer does not let finish (it does not read).
    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::end(slf, false, intern!(slf.py(), "abort"))
    }

    // ----- connection state ------------------------------------------------------------------

    /// The limit of each handshake step in seconds (the opening handshake's too): the one
    /// given, or the default.
    #[getter]
    fn handshake_timeout(&self) -> f64 {
        self.lock().conn.options_mut().handshake_timeout.as_secs_f64()
    }

    #[getter]
    fn is_open(&self) -> bool {
        let s = self.lock();
        s.ready && !s.lost && !s.conn.is_closed()
    }

    #[getter]
    fn open(&self) -> bool {
        self.is_open()
    }

    #[getter]
    fn closed(&self) -> bool {
        !self.is_open()
    }

    #[getter]
    fn encryption(&self) -> &'static str {
        self.lock().conn.encryption().as_str()
    }

    #[getter]
    fn compression(&self) -> &'static str {
        self.lock().conn.compression().as_str()
    }

    #[getter]
    fn subprotocol(&self) -> Option<String> {
        self.lock().conn.subprotocol().map(str::to_owned)
    }

    fn supported_encryption(&self) -> Vec<&'static str> {
        if self.websocket {
            vec![self.encryption()]
        } else {
            vec![SessionEncryption::None.as_str(), SessionEncryption::Tls.as_str()]
        }
    }

    fn supported_compression(&self) -> Vec<&'static str> {
        if self.websocket {
            vec![SessionCompression::None.as_str()]
        } else {
            vec![SessionCompression::None.as_str(), SessionCompression::Gzip.as_str()]
        }
    }

    /// Bytes waiting to be written (asyncio's buffer not included).
    #[getter]
    fn pending_output(&self) -> usize {
        self.lock().conn.pending_output().len()
    }

    /// Bytes waiting for the peer: asyncio's write buffer plus `pending_output`.
    #[getter]
    fn write_buffer_size(&self, py: Python<'_>) -> PyResult<usize> {
        let (transport, pending) = {
            let s = self.lock();
            (s.transport.as_ref().map(|t| t.clone_ref(py)), s.conn.pending_output().len())
        };
        let buffered: usize = match transport {
            Some(t) => t.call_method0(py, intern!(py, "get_write_buffer_size"))?.extract(py)?,
            None => 0,
        };
        Ok(buffered + pending)
    }

    /// True while asyncio asks to pause writing.
    #[getter]
    fn writing_paused(&self) -> bool {
        self.lock().paused
    }

    // ----- the channel core (channel._core once attached) ------------------------------------

    #[getter]
    fn state(&self) -> &'static str {
        self.lock().conn.state().as_str()
    }

    #[setter]
    fn set_state(&self, state: &str) -> PyResult<()> {
        let state: SessionState =
            state.parse().map_err(|e: lime::ParseError| PyValueError::new_err(e.to_string()))?;
        self.lock().update(|s| s.state = state);
        Ok(())
    }

    #[getter]
    fn session_id(&self) -> Option<String> {
        self.lock().conn.session_id().map(Into::into)
    }

    #[setter]
    fn set_session_id(&self, id: Option<String>) {
        self.lock().update(|s| s.session_id = id);
    }

    #[getter]
    fn local_node(&self) -> Option<String> {
        self.lock().conn.local_node().map(ToString::to_string)
    }

    #[setter]
    fn set_local_node(&self, node: Option<&str>) -> PyResult<()> {
        let node = parse_opt_node(node)?;
        self.lock().update(|s| s.local_node = node);
        Ok(())
    }

    #[getter]
    fn remote_node(&self) -> Option<String> {
        self.lock().conn.remote_node().map(ToString::to_string)
    }

    #[setter]
    fn set_remote_node(&self, node: Option<&str>) -> PyResult<()> {
        let node = parse_opt_node(node)?;
        self.lock().update(|s| s.remote_node = node);
        Ok(())
    }

    #[getter]
    fn auto_reply_pings(&self) -> bool {
        self.lock().conn.channel_options_mut().auto_reply_pings
    }

    #[setter]
    fn set_auto_reply_pings(&self, value: bool) {
        self.lock().conn.channel_options_mut().auto_reply_pings = value;
    }

    #[getter]
    fn auto_notify_receipt(&self) -> bool {
        self.lock().conn.channel_options_mut().auto_notify_receipt
    }

    #[setter]
    fn set_auto_notify_receipt(&self, value: bool) {
        self.lock().conn.channel_options_mut().auto_notify_receipt = value;
    }

    #[getter]
    fn pending_commands(&self) -> usize {
        let s = self.lock();
        s.conn.pending_commands() + s.registered.len() + s.verbatim.len()
    }

    fn start_new_session(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let session =
            self.lock().scratch().start_new_session().map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, session)
    }

    fn negotiate_session(
        &self,
        py: Python<'_>,
        compression: &str,
        encryption: &str,
    ) -> PyResult<Py<PyAny>> {
        let (c, e) = negotiation(compression, encryption)?;
        let session =
            self.lock().scratch().negotiate_session(c, e).map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, session)
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
        let session = self
            .lock()
            .scratch()
            .authenticate_session(&identity, auth, instance)
            .map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, session)
    }

    fn finishing_session(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let session =
            self.lock().scratch().finishing_session().map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, session)
    }

    /// Checks an envelope and completes it (id, pp) as a send would, without sending.
    fn prepare_send(&self, py: Python<'_>, envelope: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let env = envelope_from_py(py, envelope)?;
        let env = self.lock().scratch().prepare_send(env).map_err(|e| errors::from_core(py, &e))?;
        to_py_env(py, env)
    }

    /// Registers a command request: its response (sent later with `send_with`/`send`)
    /// resolves `completion`, an asyncio future.
    fn register_command(
        &self,
        py: Python<'_>,
        command: &Bound<'_, PyAny>,
        completion: Py<PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let Envelope::Command(cmd) = envelope_from_py(py, command)? else {
            return Err(PyValueError::new_err("not a command"));
        };
        let mut cmd = cmd;
        if cmd.id.as_deref().is_none_or(str::is_empty) {
            cmd.id = Some(ids::new_id());
        }
        let mut s = self.lock();
        let scratch = s.scratch();
        let cmd = scratch.register_command(cmd, ()).map_err(|e| errors::from_core(py, &e))?;
        scratch.drain_pending();
        let id = cmd.id.clone().unwrap_or_default();
        if s.registered.contains_key(&id)
            || s.by_id.contains_key(&id)
            || s.verbatim.contains_key(&id)
        {
            return Err(PyValueError::new_err(lime::CommandError::DuplicateId(id).to_string()));
        }
        s.registered.insert(id, completion);
        drop(s);
        to_py_env(py, cmd)
    }

    /// Forgets a command request; returns its future.
    fn cancel_command(&self, id: &str) -> Option<Py<PyAny>> {
        let mut s = self.lock();
        if let Some(future) = s.registered.remove(id).or_else(|| s.verbatim.remove(id)) {
            return Some(future);
        }
        let token = s.by_id.remove(id)?;
        s.conn.cancel_command(CommandToken(token));
        s.commands.remove(&token).map(|(_, future)| future)
    }

    /// Forgets every command request; returns their futures.
    fn drain_pending(&self) -> Vec<Py<PyAny>> {
        self.lock().take_futures()
    }

    /// The Python objects held, for the garbage collector: the transport and its connection
    /// refer to each other (`on_batch` is a method of the transport).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.on_batch)?;
        visit.call(&self.event_loop)?;
        visit.call(&self.ready)?;
        visit.call(&self.lost)?;
        if let Some((future, kwargs)) = &self.future_type {
            visit.call(future)?;
            visit.call(kwargs)?;
        }
        if let Some(classes) = self.classes.get() {
            visit.call(&classes.message)?;
            visit.call(&classes.notification)?;
            visit.call(&classes.reason)?;
            visit.call(&classes.command)?;
        }
        // Never held while Python code runs; skipped rather than waited for if it were.
        if let Ok(s) = self.state.try_lock() {
            visit.call(&s.transport)?;
            if let Some((_, handle)) = &s.timer {
                visit.call(handle)?;
            }
            for future in s.registered.values().chain(s.verbatim.values()).chain(&s.drains) {
                visit.call(future)?;
            }
            for (_, future) in s.commands.values() {
                visit.call(future)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        if let Ok(mut s) = self.state.try_lock() {
            s.transport = None;
            s.fd = None;
            s.timer = None;
            drop(s.take_futures());
            s.drains.clear();
        }
    }

    fn __repr__(&self) -> String {
        let s = self.lock();
        format!(
            "LoopConnection({:?}, state={:?}, open={})",
            self.uri,
            s.conn.state().as_str(),
            s.ready && !s.lost && !s.conn.is_closed()
        )
    }
}

/// The attributes of a lime-python envelope object (its `__dict__`), read as `to_json` would
/// write them (keys interned: no string is built to look one up).
struct Attrs<'a, 'py> {
    py: Python<'py>,
    dict: &'a Bound<'py, PyDict>,
}

impl<'py> Attrs<'_, 'py> {
    /// The value of an attribute that is present and not None.
    fn get(&self, key: &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(self.dict.get_item(key)?.filter(|v| !v.is_none()))
    }

    /// A text attribute (another value as its `str`, as `to_json` leaves it to `json.dumps`).
    fn text(&self, key: &Bound<'py, PyString>) -> PyResult<Option<String>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => match v.cast::<PyString>() {
                Ok(s) => Ok(Some(s.to_cow()?.into_owned())),
                Err(_) => Ok(Some(v.str()?.to_cow()?.into_owned())),
            },
        }
    }

    fn parse_err(&self, e: lime::ParseError) -> PyErr {
        errors::envelope_parse(self.py, e.to_string())
    }

    fn node(&self, key: &Bound<'py, PyString>) -> PyResult<Option<lime::Node>> {
        self.text(key)?.map(|s| s.parse::<lime::Node>().map_err(|e| self.parse_err(e))).transpose()
    }

    fn id(&self) -> PyResult<Option<String>> {
        let py = self.py;
        match self.get(intern!(py, "id"))? {
            Some(v) => Ok(Some(
                v.cast::<PyString>()
                    .map_err(|_| {
                        errors::envelope_parse(py, "invalid `id`: expected a string".into())
                    })?
                    .to_cow()?
                    .into_owned(),
            )),
            None => Ok(None),
        }
    }

    fn metadata(&self) -> PyResult<Option<lime::Metadata>> {
        let Some(v) = self.get(intern!(self.py, "metadata"))? else { return Ok(None) };
        let mut md = lime::Metadata::new();
        for (k, v) in v.cast::<PyDict>()?.iter() {
            let key = k.str()?.to_cow()?.into_owned();
            if v.is_none() {
                continue;
            }
            let value = match v.cast::<PyString>() {
                Ok(s) => s.to_cow()?.into_owned(),
                Err(_) => crate::convert::from_py(&v)?.to_string(),
            };
            md.insert(key, value);
        }
        Ok(Some(md))
    }

    /// The document under `key` with its media type in `type_n`.
    fn document(&self, key: &Bound<'py, PyString>, name: &str) -> PyResult<Option<lime::Document>> {
        match (self.text(intern!(self.py, "type_n"))?, self.get(key)?) {
            (_, None) => Ok(None),
            (None, Some(_)) => Err(errors::envelope_parse(
                self.py,
                format!("invalid `type`: `{name}` requires a media type in `type`"),
            )),
            (Some(ty), Some(c)) => {
                let media_type: lime::MediaType = ty.parse().map_err(|e| self.parse_err(e))?;
                Ok(Some(lime::Document::new(media_type, crate::convert::from_py(&c)?)))
            }
        }
    }
}

/// Reads a lime-python `Message` object (`id`, `from_n`, `to`, `pp`, `metadata`, `type_n`,
/// `content`) as an envelope; values are taken as `to_json` would write them.
pub(crate) fn message_from_object(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Envelope> {
    let dict = obj.getattr(intern!(py, "__dict__"))?;
    let a = Attrs { py, dict: dict.cast::<PyDict>()? };
    let id = a.id()?;
    let metadata = a.metadata()?;
    let content = a.document(intern!(py, "content"), "content")?;
    Ok(Envelope::Message(lime::Message {
        id,
        from: a.node(intern!(py, "from_n"))?,
        pp: a.node(intern!(py, "pp"))?,
        to: a.node(intern!(py, "to"))?,
        metadata,
        content,
    }))
}

/// The attributes `Command.__init__` sets: a command whose `__dict__` holds other keys is
/// not read natively (`to_json` would write them).
const COMMAND_ATTRIBUTES: usize = 12;

/// Reads an exact lime-python `Command` request as the core's command, when it is one the
/// native request path takes as it is (see `LoopConnection.request`); None otherwise.
fn command_from_object(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Option<lime::Command>> {
    let dict = obj.getattr(intern!(py, "__dict__"))?;
    let a = Attrs { py, dict: dict.cast::<PyDict>()? };
    if a.dict.len() != COMMAND_ATTRIBUTES {
        return Ok(None);
    }
    for key in [intern!(py, "status"), intern!(py, "reason"), intern!(py, "timeout")] {
        if a.get(key)?.is_some() {
            return Ok(None);
        }
    }
    // Plain text only, read as the dict path reads it; anything else goes that way.
    let plain = |key: &Bound<'_, PyString>| -> PyResult<Result<Option<String>, ()>> {
        match a.get(key)? {
            None => Ok(Ok(None)),
            Some(v) => match v.cast::<PyString>() {
                Ok(s) => Ok(Ok(Some(s.to_cow()?.into_owned()))),
                Err(_) => Ok(Err(())),
            },
        }
    };
    let Ok(Some(method_text)) = plain(intern!(py, "method"))? else { return Ok(None) };
    let Ok(method) = method_text.parse::<CommandMethod>() else { return Ok(None) };
    if method.as_str() != method_text {
        return Ok(None);
    }
    let uri = match plain(intern!(py, "uri"))? {
        Ok(None) => None,
        Ok(Some(text)) => match text.parse::<lime::LimeUri>() {
            Ok(uri) if uri.as_str() == text => Some(uri),
            _ => return Ok(None),
        },
        Err(()) => return Ok(None),
    };
    let resource = match (plain(intern!(py, "type_n"))?, a.get(intern!(py, "resource"))?) {
        (_, None) => None,
        (Ok(Some(ty)), Some(value)) => {
            let Ok(media_type) = ty.parse::<lime::MediaType>() else { return Ok(None) };
            // the core writes a non-JSON media type's document as a string: other values
            // go the way that keeps them as json.dumps writes them
            if !media_type.is_json() && !value.is_instance_of::<PyString>() {
                return Ok(None);
            }
            match crate::convert::from_py(&value) {
                Ok(value) => Some(lime::Document::new(media_type, value)),
                Err(_) => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let node = |key: &Bound<'_, PyString>| -> PyResult<Result<Option<lime::Node>, ()>> {
        Ok(match plain(key)? {
            Ok(None) => Ok(None),
            Ok(Some(text)) => text.parse::<lime::Node>().map(Some).map_err(drop),
            Err(()) => Err(()),
        })
    };
    let (Ok(from), Ok(to), Ok(pp)) =
        (node(intern!(py, "from_n"))?, node(intern!(py, "to"))?, node(intern!(py, "pp"))?)
    else {
        return Ok(None);
    };
    let id = match a.get(intern!(py, "id"))? {
        None => None,
        Some(v) => match v.cast::<PyString>() {
            Ok(s) => Some(s.to_cow()?.into_owned()),
            Err(_) => return Ok(None),
        },
    };
    let metadata = match a.get(intern!(py, "metadata"))? {
        None => None,
        Some(v) => {
            let Ok(map) = v.cast::<PyDict>() else { return Ok(None) };
            let mut metadata = lime::Metadata::new();
            for (key, value) in map.iter() {
                let (Ok(key), Ok(value)) = (key.cast::<PyString>(), value.cast::<PyString>())
                else {
                    return Ok(None);
                };
                metadata.insert(key.to_cow()?.into_owned(), value.to_cow()?.into_owned());
            }
            Some(metadata)
        }
    };
    Ok(Some(lime::Command {
        id,
        from,
        pp,
        to,
        metadata,
        uri,
        method,
        status: CommandStatus::Pending,
        resource,
        reason: None,
    }))
}

/// Python `str`s kept for texts that repeat, each made once: a hit costs a comparison per
/// entry where a miss makes a new `str`. A connection keeps the few its received envelopes
/// repeat (its own node, the server's, a bot's peers; the media types of their documents), at
/// most `CAP`, the oldest replaced; the process keeps every `&'static str` it was asked for.
struct RecentTexts<K, const CAP: usize = 4>(Mutex<Vec<(K, Py<PyString>)>>);

impl<K, const CAP: usize> Default for RecentTexts<K, CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, const CAP: usize> RecentTexts<K, CAP> {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    /// The `str` kept for the entry `same` recognizes, else the one of the key and text `make`
    /// gives (kept, in place of the oldest when full).
    fn get<'py, 't>(
        &self,
        py: Python<'py>,
        same: impl Fn(&K) -> bool,
        make: impl FnOnce() -> (K, Cow<'t, str>),
    ) -> Bound<'py, PyString> {
        let mut known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, text)) = known.iter().find(|(k, _)| same(k)) {
            return text.bind(py).clone();
        }
        let (key, text) = make();
        let text = PyString::new(py, &text);
        if known.len() == CAP {
            known.remove(0);
        }
        known.push((key, text.clone().unbind()));
        text
    }
}

/// The `str` of received nodes and media types (see [`RecentTexts`]).
#[derive(Default)]
struct ReceivedTexts {
    nodes: RecentTexts<lime::Node>,
    media_types: RecentTexts<Box<str>>,
}

impl ReceivedTexts {
    /// A node as a Python `str` (None when absent): its text, the same for nodes of the same
    /// parts, byte for byte (`Node` equality ignores case; the text must not).
    fn node<'py>(&self, py: Python<'py>, node: Option<&lime::Node>) -> Bound<'py, PyAny> {
        let Some(node) = node else { return py.None().into_bound(py) };
        let same = |known: &lime::Node| {
            known.name() == node.name()
                && known.domain() == node.domain()
                && known.instance() == node.instance()
        };
        self.nodes.get(py, same, || (node.clone(), node.to_string().into())).into_any()
    }

    /// A media type's text as a Python `str`.
    fn media_type<'py>(&self, py: Python<'py>, text: &str) -> Bound<'py, PyAny> {
        self.media_types.get(py, |known| &**known == text, || (text.into(), text.into())).into_any()
    }
}

/// A `&'static str` (a command method or status, a notification event) as a Python `str`,
/// made once per process (a few dozen texts at most: the protocol's names).
fn static_text<'py>(py: Python<'py>, text: &'static str) -> Bound<'py, PyAny> {
    static TEXTS: RecentTexts<(usize, usize), { usize::MAX }> = RecentTexts::new();
    let key = (text.as_ptr() as usize, text.len());
    TEXTS.get(py, |known| *known == key, || (key, text.into())).into_any()
}

/// One attribute of an envelope object: its interned name and value.
type Attr<'a, 'py> = (&'a Bound<'py, PyString>, Bound<'py, PyAny>);

/// Builds a message, notification or command object without a round trip through a dict: the
/// same attributes, in the same order, as their `from_json`.
fn build_object<'py>(
    py: Python<'py>,
    classes: &Classes,
    texts: &ReceivedTexts,
    env: &Envelope,
) -> PyResult<Bound<'py, PyAny>> {
    let none = || py.None().into_bound(py);
    let text = |s: &str| PyString::new(py, s).into_any();
    let document = |doc: Option<&lime::Document>| -> PyResult<_> {
        Ok(match doc {
            Some(doc) => (
                texts.media_type(py, doc.media_type().as_str()),
                crate::convert::document_to_py(py, doc)?,
            ),
            None => (none(), none()),
        })
    };
    let reason = |r: Option<&lime::Reason>| -> PyResult<_> {
        match r {
            Some(r) => classes.reason.bind(py).call1((r.code, r.description.as_deref())),
            None => Ok(none()),
        }
    };
    let (class, extra): (&Py<PyAny>, Vec<Attr<'_, 'py>>) = match env {
        Envelope::Message(m) => {
            let (ty, content) = document(m.content.as_ref())?;
            (&classes.message, vec![(intern!(py, "type_n"), ty), (intern!(py, "content"), content)])
        }
        Envelope::Notification(n) => (
            &classes.notification,
            vec![
                (intern!(py, "event"), static_text(py, n.event.as_str())),
                (intern!(py, "reason"), reason(n.reason.as_ref())?),
            ],
        ),
        Envelope::Command(c) => {
            let Some(class) = &classes.command else { return received_to_py(py, env) };
            let (ty, resource) = document(c.resource.as_ref())?;
            let status = match c.status {
                CommandStatus::Pending => none(),
                status => static_text(py, status.as_str()),
            };
            (
                class,
                vec![
                    (intern!(py, "method"), static_text(py, c.method.as_str())),
                    (intern!(py, "uri"), c.uri.as_ref().map_or_else(none, |u| text(u.as_str()))),
                    (intern!(py, "type_n"), ty),
                    (intern!(py, "resource"), resource),
                    (intern!(py, "status"), status),
                    (intern!(py, "reason"), reason(c.reason.as_ref())?),
                    (intern!(py, "timeout"), none()),
                ],
            )
        }
        other => return received_to_py(py, other),
    };
    let class = class.bind(py);
    let obj = class.call_method1(intern!(py, "__new__"), (class,))?;
    let attrs = obj.getattr(intern!(py, "__dict__"))?;
    let attrs = attrs.cast::<PyDict>()?;
    attrs.set_item(intern!(py, "id"), env.id())?;
    attrs.set_item(intern!(py, "from_n"), texts.node(py, env.from_node()))?;
    attrs.set_item(intern!(py, "to"), texts.node(py, env.to()))?;
    attrs.set_item(intern!(py, "pp"), texts.node(py, env.pp()))?;
    match env.metadata() {
        Some(md) => {
            let d = PyDict::new(py);
            for (k, v) in md {
                d.set_item(k, v)?;
            }
            attrs.set_item(intern!(py, "metadata"), d)?;
        }
        None => attrs.set_item(intern!(py, "metadata"), none())?,
    }
    for (k, v) in extra {
        attrs.set_item(k, v)?;
    }
    Ok(obj)
}

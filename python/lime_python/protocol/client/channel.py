import asyncio as _asyncio
import inspect as _inspect
import logging as _logging
from asyncio import Future, get_running_loop, wait_for  # noqa: F401 (exported before)
from functools import partial
from typing import Callable, Dict, List
from uuid import uuid4  # noqa: F401 (lime-python exported this name)

from ... import _documents, _lime
from ..._attributes import PlainAttribute as _PlainAttribute
from ...errors import ChannelStateError as _ChannelStateError
from ...errors import CommandTimeoutError as _CommandTimeoutError
from ...errors import ConnectionClosedError as _ConnectionClosedError
from ..command import Command
from ..constants import (  # noqa: F401
    CommandMethod,
    CommandStatus,
    CommonConstants,
    ContentTypes,
    NotificationEvent,
    SessionState,
)
from ..envelope import Envelope
from ..message import Message
from ..network import Transport
from ..notification import Notification
from ..session import Session
from .channels import CommandChannel, MessageChannel, NotificationChannel, SessionChannel
from .command_processor import CommandProcessor

_log = _logging.getLogger('lime_python')

_KINDS = {'message': Message, 'notification': Notification, 'command': Command}
_CALLBACKS = {kind: f'on_{kind}' for kind in _KINDS}


class Channel(
    MessageChannel,
    NotificationChannel,
    SessionChannel,
    CommandChannel,
    CommandProcessor
):
    """A LIME channel over a ``Transport`` (abstract: see ``ClientChannel``).

    The protocol decisions (state rules, ids, command correlation, ping replies, ``received``
    receipts, session state) are made by the Rust channel core (``_lime.ChannelCore``); this class
    keeps lime-python's surface on top of it. With a Python transport, every received envelope
    goes ``transport.on_envelope(dict)`` → ``on_envelope`` → core → ``transport.send(reply)`` /
    the ``on_*`` callbacks. With a native transport (``TcpTransport``, ``WebSocketTransport``)
    the core runs in Rust and only deliveries reach Python.

    ``state``, ``session_id``, ``local_node``, ``remote_node``, ``auto_reply_pings`` and
    ``auto_notify_receipt`` read and write the core. Every callback is looked up on the instance
    when called, so callbacks may be assigned (``channel.on_message = fn``) or overridden; an
    exception raised by a callback is logged (logger ``lime_python``) and does not stop the
    channel; a callback may also be a coroutine function.
    """

    def __init__(
        self,
        transport: Transport,
        auto_reply_pings: bool = True,
        auto_notify_receipt: bool = True
    ) -> None:
        self._core = _lime.ChannelCore(
            'client',
            auto_reply_pings=bool(auto_reply_pings),
            auto_notify_receipt=bool(auto_notify_receipt),
            receipt_target='sender',
            deliver_answered_pings=True,
            assign_ids='all',
        )
        # lime-python's __init__ assigned state, session_id, nodes and flags: what a subclass
        # assigned before calling it is replaced, as then
        self.__dict__.pop('_assigned', None)
        self._streams: list = []
        self._session_from_core = False
        self.transport = transport
        self.command_resolves: Dict[str, Callable] = {}
        self.transport.on_envelope = self.on_envelope
        attach = getattr(transport, '_attach', None)
        if callable(attach):
            attach(self._core, self)

    # ----- state kept by the core ------------------------------------------------------------
    # Plain attributes in lime-python: PlainAttribute descriptors over the core (set after the
    # class body) keep them assignable, patchable and deletable.

    state = None
    session_id = None
    local_node = None
    remote_node = None
    auto_reply_pings = None
    auto_notify_receipt = None

    # ----- sending ---------------------------------------------------------------------------

    def send_message(self, message: Message) -> None:
        """Sends a message (established sessions only; an id is assigned when missing)."""
        transport = self.transport
        # _send's path for an exact Message on an open native transport, inline (an echo bot
        # runs this for every reply)
        if (type(message) is Message  # noqa: E721
                and type(transport).send is (_NATIVE_SEND or _native_send())
                and 'send' not in transport.__dict__
                and not transport.is_trace_enabled):
            connection = transport._connection
            content = message.content
            if (connection is not None and connection.is_open
                    and (content is None or type(content) is str  # noqa: E721
                         or _documents.is_json_type(message.type_n))):
                try:
                    envelope_id = connection.send_message_with(self._core, message)
                except TypeError as error:
                    self._send_verbatim(message, message.to_json(), True, error)
                    return
                except _ConnectionClosedError as error:
                    transport.on_error(error)
                    raise
                if message.id is None and envelope_id is not None:
                    message.id = envelope_id
                return
        self._send(message)

    def send_command(self, command: Command) -> None:
        """Sends a command (established sessions only; an id is assigned when missing)."""
        self._send(command)

    def send_notification(self, notification: Notification) -> None:
        """Sends a notification (established sessions only)."""
        self._send(notification)

    def send_session(self, session: Session) -> None:
        """Sends a session envelope (not after the session finished or failed)."""
        self._send(session)

    def _send(self, envelope: Envelope) -> None:
        transport = self.transport
        # exact Messages on a native transport whose send nobody replaced first (the hot path
        # of an echo bot): subclasses may change their JSON form
        if (type(envelope) is Message  # noqa: E721
                and type(transport).send is (_NATIVE_SEND or _native_send())
                and 'send' not in transport.__dict__):
            content = envelope.content
            if content is None or type(content) is str \
                    or _documents.is_json_type(envelope.type_n):  # noqa: E721
                try:
                    envelope_id = transport._send_message_with(self._core, envelope)
                except TypeError as error:
                    self._send_verbatim(envelope, envelope.to_json(), True, error)
                    return
                if envelope.id is None and envelope_id is not None:
                    envelope.id = envelope_id
                return
        native = (getattr(transport, '_send_with', None) is not None
                  and 'send' not in transport.__dict__
                  and type(transport).send is _native_send())
        data = envelope.to_json()
        if _documents.rewritten(data) is None:
            try:
                if native:
                    envelope_id = transport._send_with(self._core, data)
                else:
                    wire = self._core.prepare_send(data)
                    envelope_id = wire.get('id')
            except TypeError as error:
                self._send_verbatim(envelope, data, native, error)
                return
            if getattr(envelope, 'id', None) is None and envelope_id is not None:
                envelope.id = envelope_id
            if not native:
                transport.send(wire)
            return
        self._send_verbatim(envelope, data, native)

    def _native_request(self, command: Command, request: dict = None) -> bool:
        """True when ``process_command_async`` may register and send ``command`` in one native
        call: an exact ``Command`` (whose JSON form, ``request`` when given, the core keeps as it
        is) on an open native transport whose ``send`` (and this channel's ``send_command``)
        nobody replaced."""
        transport = self.transport
        return (type(command) is Command  # noqa: E721 (subclasses may change their JSON form)
                and getattr(transport, '_request_with', None) is not None
                and 'send_command' not in self.__dict__
                and type(self).send_command is Channel.send_command
                and 'send' not in transport.__dict__
                and type(transport).send is _native_send()
                and not transport.is_trace_enabled
                and transport.is_open
                and (request is None or _documents.rewritten(request) is None))

    def _send_verbatim(self, envelope: Envelope, data: dict, native: bool, error=None) -> None:
        """Sends an envelope whose document the core would rewrite (or cannot hold) as
        lime-python did: the core checks and prepares the envelope with a placeholder document,
        and the user's value goes on the wire as ``json.dumps`` writes it (see
        ``lime_python._documents``). ``error`` is re-raised when there is no document to blame."""
        found = _documents.document(data)
        if found is None:
            if error is not None:
                raise error
            return
        key, value = found
        wire = self._core.prepare_send(_documents.with_placeholder(data, key))
        if getattr(envelope, 'id', None) is None and wire.get('id') is not None:
            envelope.id = wire['id']
        wire[key] = value
        if native:
            self.transport._send_text(wire)
        else:
            self.transport.send(wire)

    async def process_command_async(
        self,
        command: Command,
        timeout: float
    ) -> Command:
        """Sends a command request and returns its response.

        The response is the received command with the same id and a status. Raises
        ``CommandTimeoutError`` (a ``TimeoutError`` / ``asyncio.TimeoutError``) after
        ``timeout`` seconds, with ``command.timeout`` set to True.
        """
        transport = self.transport
        # The native path, checked inline (this runs for every request): an exact Command on
        # an open native transport whose send (and this channel's send_command) nobody
        # replaced, as _native_request says.
        if (type(command) is Command  # noqa: E721 (subclasses may change their JSON form)
                and type(transport).send is (_NATIVE_SEND or _native_send())
                and 'send' not in transport.__dict__
                and 'send_command' not in self.__dict__
                and type(self).send_command is _SEND_COMMAND
                and not transport.is_trace_enabled):
            connection = transport._connection
            if connection is not None and connection.is_open:
                # read from the object, registered and sent in one native call; the future is
                # made there, the timeout kept by the connection, and the response wakes this
                # task in the loop turn that reads it
                try:
                    native = connection.request(command, timeout)
                except _ConnectionClosedError as error:
                    transport.on_error(error)
                    raise
                if native is not None:
                    command_id, future = native
                    command.id = command_id
                    resolves = self.command_resolves
                    resolves[command_id] = future.set_result
                    try:
                        if timeout is not None and timeout <= 0 and not future.done():
                            raise _asyncio.TimeoutError
                        response = await future
                    except _asyncio.TimeoutError:
                        command.timeout = True
                        raise _CommandTimeoutError(
                            f'The following command processing has timed out: {command}',
                            command
                        ) from None
                    finally:
                        resolves.pop(command_id, None)
                        # cancelled too when this task was (Task.cancel cancels the awaited
                        # future first): the connection forgets the command, and a late
                        # response goes to on_command, as in lime-python
                        if future.cancelled() or not future.done():
                            self._core.cancel_command(command_id)
                            future.cancel()
                    if type(response) is dict:  # noqa: E721 (no classes attached)
                        return Command.from_json(response)
                    return response
        return await self._process_command(command, timeout)

    async def _process_command(self, command: Command, timeout: float) -> Command:
        """``process_command_async`` for what the native object path does not take."""
        sent = False
        loop = get_running_loop()
        future = loop.create_future()
        request = command.to_json()
        transport = self.transport
        if self._native_request(command, request):
            try:
                # registered and sent in one native call, the timeout kept by the connection
                command_id = transport._request_with(self._core, request, future, timeout)
                sent = True
            except TypeError:  # a resource the core cannot hold: the general path below
                pass
        if not sent:
            try:
                wire = self._core.register_command(request, future)
            except TypeError:
                # a resource the core cannot hold (see _send_verbatim): correlation needs only
                # the rest of the command
                found = _documents.document(request)
                if found is None:
                    raise
                wire = self._core.register_command(
                    _documents.with_placeholder(request, found[0]), future
                )
            command_id = wire.get('id')
        command.id = command_id
        resolves = self.command_resolves
        resolves[command_id] = future.set_result
        timer = None
        try:
            if not sent:
                self.send_command(command)
                if timeout is not None and timeout > 0:
                    timer = loop.call_later(timeout, _expire, future)
            # the response resolves ``future`` and wakes this task directly (asyncio.wait_for
            # would add a waiter future and two loop iterations per command)
            if timeout is not None and timeout <= 0 and not future.done():
                raise _asyncio.TimeoutError
            response = await future
        except _asyncio.TimeoutError:
            command.timeout = True
            raise _CommandTimeoutError(
                f'The following command processing has timed out: {command}', command
            ) from None
        finally:
            if timer is not None:
                timer.cancel()
            resolves.pop(command_id, None)
            if not sent or future.cancelled() or not future.done():
                self._core.cancel_command(command_id)
            if not future.done():
                future.cancel()
        if isinstance(response, dict):  # native connections resolve with a Command
            return Command.from_json(response)
        return response

    @staticmethod
    def raise_command_timeout(
        fut: Future,
        command: Command,
        command_resolves: Dict[str, Callable]
    ) -> None:
        """lime-python's done-callback for a timed-out request, kept for callers: when ``fut``
        was cancelled and ``command`` is still pending, forgets it, sets ``command.timeout`` and
        raises ``CommandTimeoutError``. (``process_command_async`` no longer uses it.)"""
        if not fut.cancelled() or command_resolves.get(command.id) is None:
            return
        del command_resolves[command.id]
        command.timeout = True
        raise _CommandTimeoutError(
            f'The following command processing has timed out: {command}', command
        )

    # ----- receiving -------------------------------------------------------------------------

    def on_envelope(self, envelope: dict) -> None:
        """Handles an envelope received by a Python transport (a dict, or JSON text).

        Invalid envelopes, and envelopes not allowed in the current state, are logged and
        dropped.
        """
        verbatim = _documents.rewritten(envelope)
        try:
            try:
                inbound = self._core.receive(envelope)
            except TypeError:
                # A document the core cannot hold (integers beyond 64 bits): the core reads
                # the envelope with a placeholder, the callbacks get the value as it came.
                verbatim = _documents.document(envelope)
                if verbatim is None:
                    raise
                inbound = self._core.receive(_documents.with_placeholder(envelope, verbatim[0]))
        except (ValueError, TypeError) as error:
            _log.warning('lime_python: dropped a received envelope (%s): %r', error, envelope)
            return
        if inbound.reply is not None:
            self._transmit(inbound.reply)
        if inbound.response is not None:
            _complete(inbound.completion, _restore(inbound.response, verbatim))
        if inbound.session is not None:
            self._receive_session(inbound.session)
        if inbound.deliver is not None:
            self._deliver(inbound.deliver_kind, _restore(inbound.deliver, verbatim))

    def ensure_state(self, states: List[str], is_allowed: bool) -> None:
        """Raises ``ChannelStateError`` (a ValueError) ``'Cannot send in the {state} state'``
        unless the state is in ``states`` (``is_allowed``) or not in them (not ``is_allowed``)."""
        if (self.state in states) ^ is_allowed:
            raise _ChannelStateError(f'Cannot send in the {self.state} state')

    def envelopes(self, maxsize: int = 0) -> '_EnvelopeStream':
        """Received messages, notifications and commands as an async iterator, an alternative
        to the ``on_*`` callbacks (which are still called)::

            async for envelope in channel.envelopes():
                if isinstance(envelope, Message): ...

        Envelopes are collected from this call on; the iteration ends when the session ends or
        the connection closes. ``maxsize`` bounds the queue (0 = unbounded; when full, the
        oldest envelope is dropped and a warning logged).
        """
        stream = _EnvelopeStream(self._streams, maxsize)
        if self._stream_closed():
            stream._end()
        return stream

    # ----- internals shared with the native transports ----------------------------------------

    def _stream_closed(self) -> bool:
        return self.state in (SessionState.FINISHED, SessionState.FAILED)

    def _transmit(self, wire: dict) -> None:
        try:
            self.transport.send(wire)
        except Exception:  # noqa: B902
            _log.exception('lime_python: could not send an automatic reply')

    def _receive_session(self, wire: dict) -> None:
        session = Session.from_json(wire)
        self._session_from_core = True
        try:
            self._call('on_session', session)
        finally:
            self._session_from_core = False

    def _deliver(self, kind: str, wire) -> None:
        envelope_class = _KINDS.get(kind)
        if envelope_class is None:
            return
        # native connections hand over ready objects
        envelope = envelope_class.from_json(wire) if isinstance(wire, dict) else wire
        # what _call does, inline: this runs for every received envelope
        name = _CALLBACKS[kind]
        try:
            result = getattr(self, name)(envelope)
        except Exception:  # noqa: B902
            _log.exception('lime_python: the %s callback raised', name)
        else:
            if result is not None and _inspect.isawaitable(result):
                task = _asyncio.ensure_future(result)
                task.add_done_callback(partial(_log_failure, name))
        if self._streams:
            for stream in list(self._streams):
                stream._put(envelope)

    def _call(self, name: str, *args):
        """Calls the callback ``name`` (looked up now), isolating the channel from its errors."""
        try:
            result = getattr(self, name)(*args)
        except Exception:  # noqa: B902
            _log.exception('lime_python: the %s callback raised', name)
            return None
        if result is not None and _inspect.isawaitable(result):
            task = _asyncio.ensure_future(result)
            task.add_done_callback(partial(_log_failure, name))
        return result

    def _fail_pending(self, error: Exception) -> None:
        for future in self._core.drain_pending():
            if isinstance(future, Future) and not future.done():
                future.set_exception(error)

    def _end_streams(self) -> None:
        for stream in list(self._streams):
            stream._end()

    def _transport_closed(self, error) -> None:
        """The native connection closed (called by the native transports)."""
        self._fail_pending(_ConnectionClosedError(
            error or 'The connection was closed before the response arrived'
        ))
        self._end_streams()


def _node_text(value):
    return None if value is None else str(value)


def _core_attribute(name: str, to_core, doc: str) -> _PlainAttribute:
    """A channel attribute kept by the core (see ``lime_python._attributes``)."""

    def read(channel):
        core = channel.__dict__.get('_core')  # None in a subclass's __init__ before ours
        return None if core is None else getattr(core, name)

    def write(channel, value) -> None:
        core = channel.__dict__.get('_core')
        if core is None:
            raise TypeError('no core yet')  # kept as an assigned value (PlainAttribute)
        setattr(core, name, to_core(value))

    return _PlainAttribute(read, write, doc)


for _name, _to_core, _doc in (
    ('state', str, 'The session state (``SessionState``).'),
    ('session_id', str, 'The session id assigned by the server.'),
    ('local_node', _node_text,
     "This end's node (``name@domain/instance``), known once established."),
    ('remote_node', _node_text, "The server's node, known once established."),
    ('auto_reply_pings', bool, 'Answer ``get /ping`` requests automatically (they are still '
                               'delivered to ``on_command``, as in lime-python).'),
    ('auto_notify_receipt', bool, 'Send a ``received`` notification to the sender of every '
                                  'message addressed here.'),
):
    _attribute = _core_attribute(_name, _to_core, _doc)
    _attribute.__set_name__(Channel, _name)
    setattr(Channel, _name, _attribute)


class _EnvelopeStream:
    """Async iterator over received envelopes (see ``Channel.envelopes``)."""

    _END = object()

    def __init__(self, registry: list, maxsize: int) -> None:
        self._registry = registry
        self._maxsize = maxsize
        self._items: list = []
        self._waiter = None
        self._ended = False
        registry.append(self)

    def __aiter__(self) -> '_EnvelopeStream':
        return self

    async def __anext__(self):
        while not self._items:
            if self._ended:
                self._unregister()
                raise StopAsyncIteration
            self._waiter = get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    async def aclose(self) -> None:
        """Stops collecting envelopes."""
        self._end()
        self._items.clear()
        self._unregister()

    def _put(self, envelope) -> None:
        if self._ended:
            return
        if self._maxsize and len(self._items) >= self._maxsize:
            self._items.pop(0)
            _log.warning('lime_python: envelope stream full, dropped the oldest envelope')
        self._items.append(envelope)
        self._wake()

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _unregister(self) -> None:
        if self in self._registry:
            self._registry.remove(self)


def _restore(wire, verbatim):
    """``wire`` (a dict from the core) with the document as it was received (lime-python
    delivered what ``json.loads`` made of it; the core turns non-JSON media types' documents
    into strings)."""
    if verbatim is not None and type(wire) is dict:  # noqa: E721
        key, value = verbatim
        if key in wire:
            wire[key] = value
    return wire


def _expire(future) -> None:
    """The timeout of ``process_command_async``: the awaited response future raises
    ``asyncio.TimeoutError``."""
    if not future.done():
        future.set_exception(_asyncio.TimeoutError())


def _complete(future, response: dict) -> None:
    if isinstance(future, Future) and not future.done():
        future.set_result(response)


def _log_failure(name: str, task) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.error('lime_python: the %s callback raised', name, exc_info=task.exception())


def _native_send():
    """``NativeTransport.send`` (imported late: the transport module imports this one)."""
    global _NATIVE_SEND
    if _NATIVE_SEND is None:
        from ...transport import NativeTransport
        _NATIVE_SEND = NativeTransport.send
    return _NATIVE_SEND


_NATIVE_SEND = None
_SEND_COMMAND = Channel.send_command

import inspect as _inspect
import logging as _logging
from asyncio import Future, ensure_future, get_running_loop  # noqa: F401
from functools import partial
from typing import Awaitable

from ... import _lime
from ...errors import ConnectionClosedError as _ConnectionClosedError
from ...errors import EnvelopeParseError as _EnvelopeParseError
from ...errors import SessionFailedError as _SessionFailedError
from ..command import Command
from ..constants import SessionState
from ..identity import Identity
from ..message import Message
from ..node import Node
from ..notification import Notification
from ..security import Authentication
from ..session import Session
from .channel import Channel

_log = _logging.getLogger('lime_python')

# Which pending session call a received state completes.
_HANDSHAKE = ('start', 'negotiate', 'authenticate')


class ClientChannel(Channel):
    """The client end of a LIME session.

    ``establish_session_async`` runs the whole handshake. The step methods
    (``start_new_session_async``, ``negotiate_session_async``, ``authenticate_session_async``,
    ``send_finishing_session_async``) send their session envelope **before returning** and return
    an awaitable of the server's answer. A ``failed`` session makes the pending awaitable raise
    ``SessionFailedError`` and then calls ``on_session_failed``; ``finished`` (requested or not)
    completes ``send_finishing_session_async`` and calls ``on_session_finished``; either one
    closes the transport first.

    Callbacks (assign them on the instance or override them): ``on_message``,
    ``on_notification``, ``on_command``, ``on_session_negotiating``,
    ``on_session_authenticating``, ``on_session_established``, ``on_session_finished``,
    ``on_session_failed``. ``on_session`` is the state machine itself.
    """

    _pending_session = None
    _ended_session = None

    async def establish_session_async(
        self,
        compression: str,
        encryption: str,
        identity: str,
        authentication: Authentication,
        instance: str
    ) -> Session:
        """Starts, negotiates (when the server offers options), authenticates and returns the
        last session received: ``established``, or ``authenticating`` when the server asks for
        another authentication round trip. ``compression``/``encryption`` may be None (the
        server's first option is taken). ``identity`` may be a str, an ``Identity`` or a
        ``Node`` (whose instance is used when ``instance`` is None). Raises
        ``SessionFailedError`` if the server fails the session. Credentials the protocol cannot
        carry raise ``TypeError`` / ``EnvelopeParseError`` (a ValueError) before anything is
        sent."""
        self.ensure_state([SessionState.NEW], True)
        identity, instance = _credentials(identity, authentication, instance)

        session: Session = await self.start_new_session_async()
        if session.encryption_options or session.compression_options:
            compression = compression or _first(session.compression_options)
            encryption = encryption or _first(session.encryption_options)
            session = await self.negotiate_session_async(compression, encryption)
        else:
            self._apply_transport_options(session)

        if session.state == SessionState.ESTABLISHED:
            return session
        return await self.authenticate_session_async(identity, authentication, instance)

    def start_new_session_async(self) -> Awaitable[Session]:
        """Sends the ``new`` session; the awaitable gives the server's answer (``negotiating``,
        ``authenticating`` or ``established``)."""
        self.ensure_state([SessionState.NEW], True)
        session = Session.from_json(self._core.start_new_session())
        return self._send_and_expect('start', session)

    def negotiate_session_async(
        self,
        session_compression: str,
        session_encryption: str
    ) -> Awaitable[Session]:
        """Sends the negotiation choice; the awaitable gives the session that follows the
        server's confirmation (the negotiated options are applied to the transport at the
        confirmation — TLS by the native TCP transport)."""
        self.ensure_state([SessionState.NEGOTIATING], True)
        session = Session.from_json(
            self._core.negotiate_session(session_compression, session_encryption)
        )
        return self._send_and_expect('negotiate', session)

    def authenticate_session_async(
        self,
        identity: str,
        authentication: Authentication,
        instance: str
    ) -> Awaitable[Session]:
        """Sends the credentials as ``identity/instance``; the awaitable gives ``established``
        (or ``authenticating`` for another round trip)."""
        self.ensure_state([SessionState.AUTHENTICATING], True)
        identity, instance = _credentials(identity, authentication, instance)
        wire = self._core.authenticate_session(identity, authentication.to_json(), instance)
        session = Session.from_json(wire)
        session.scheme = authentication.scheme if authentication.scheme else 'unknown'
        session.authentication = authentication
        return self._send_and_expect('authenticate', session)

    def send_finishing_session_async(self) -> Awaitable[Session]:
        """Sends ``finishing``; the awaitable gives the ``finished`` session once the transport
        is closed."""
        self.ensure_state([SessionState.ESTABLISHED], True)
        session = Session.from_json(self._core.finishing_session())
        return self._send_and_expect('finish', session)

    def on_session_finished(self, session: Session) -> None:
        """Called when the session finished (after the transport is closed)."""

    def on_session_failed(self, session: Session) -> None:
        """Called when the server failed the session (after the transport is closed)."""

    def on_session(self, session: Session) -> None:  # noqa: WPS213
        """The client state machine: records the session, completes the pending session call
        and calls the ``on_session_*`` callback of the new state."""
        if not self._session_from_core:
            self._record(session)

        state = session.state
        if state == SessionState.NEGOTIATING:
            self._on_negotiating(session)
            self._call('on_session_negotiating', session)
        elif state == SessionState.AUTHENTICATING:
            self._complete_pending(_HANDSHAKE, session)
            self._call('on_session_authenticating', session)
        elif state == SessionState.ESTABLISHED:
            self._complete_pending(_HANDSHAKE, session)
            self._call('on_session_established', session)
        elif state in (SessionState.FINISHED, SessionState.FAILED):
            self._end(session)

    def on_message(self, message: Message) -> None:
        """Called for every received message."""

    def on_command(self, command: Command) -> None:
        """Called for every received command except responses to ``process_command_async``
        (answered pings included)."""

    def on_notification(
        self,
        notification: Notification
    ) -> None:
        """Called for every received notification."""

    def on_session_authenticating(self, session: Session) -> None:
        """Called when the server asks for authentication."""

    def on_session_negotiating(self, session: Session) -> None:
        """Called for the server's negotiation offer and for its confirmation."""

    def on_session_established(self, session: Session) -> None:
        """Called when the session is established."""

    # ----- internals -------------------------------------------------------------------------

    def _send_and_expect(self, kind: str, session: Session) -> Future:
        future = get_running_loop().create_future()
        previous, self._pending_session = self._pending_session, (kind, future)
        try:
            self.send_session(session)
        except BaseException:
            self._pending_session = previous
            raise
        return future

    def _record(self, session: Session) -> None:
        """What lime-python's on_session recorded, for sessions that did not come through the
        core (``on_session`` called directly)."""
        if session.id is not None:
            self.session_id = session.id
        if session.state is not None:
            self.state = session.state
        if session.state == SessionState.ESTABLISHED:
            if session.to is not None:
                self.local_node = session.to
            if session.from_n is not None:
                self.remote_node = session.from_n

    def _on_negotiating(self, session: Session) -> None:
        pending = self._pending_session
        if pending is not None and pending[0] == 'negotiate':
            # The server's confirmation: switch the transport before anything else is read.
            self._apply_transport_options(session)
        else:
            self._complete_pending(('start',), session)

    def _apply_transport_options(self, session: Session) -> None:
        transport = self.transport
        if session.compression and session.compression != transport.compression:
            transport.set_compression(session.compression)
        if session.encryption and session.encryption != transport.encryption:
            transport.set_encryption(session.encryption)

    def _complete_pending(self, kinds, session: Session) -> None:
        pending = self._pending_session
        if pending is None or pending[0] not in kinds:
            return
        self._pending_session = None
        if not pending[1].done():
            pending[1].set_result(session)

    def _end(self, session: Session) -> None:
        self._ended_session = session
        try:
            closing = self.transport.close_async()
        except Exception:  # noqa: B902
            _log.exception('lime_python: closing the transport failed')
            closing = None
        if _inspect.isawaitable(closing):
            try:
                get_running_loop()
            except RuntimeError:
                if _inspect.iscoroutine(closing):
                    closing.close()
            else:
                task = ensure_future(closing)
                task.add_done_callback(partial(self._after_close, session))
                return
        self._after_close(session, None)

    def _after_close(self, session: Session, task) -> None:
        if task is not None and not task.cancelled() and task.exception() is not None:
            _log.warning('lime_python: closing the transport failed: %s', task.exception())
        finished = session.state == SessionState.FINISHED
        pending, self._pending_session = self._pending_session, None
        if pending is not None and not pending[1].done():
            if finished and pending[0] == 'finish':
                pending[1].set_result(session)
            else:
                pending[1].set_exception(_SessionFailedError(session))
        self._fail_pending(_ConnectionClosedError(f'The session {session.state}'))
        self._end_streams()
        self._call('on_session_finished' if finished else 'on_session_failed', session)

    def _stream_closed(self) -> bool:
        return self._ended_session is not None or super()._stream_closed()

    def _transport_closed(self, error) -> None:
        if self._ended_session is None:
            pending, self._pending_session = self._pending_session, None
            if pending is not None and not pending[1].done():
                pending[1].set_exception(
                    _ConnectionClosedError(error or 'The connection was closed')
                )
        super()._transport_closed(error)


def _credentials(identity, authentication, instance):
    """(identity text, instance text) for the ``authenticating`` session, checked the way the
    core will check them, so that a bad argument raises before the ``new`` session is sent.

    lime-python formatted ``f'{identity}/{instance}'``, so it took ``Identity`` and ``Node``
    objects too; a Node's own instance is used when ``instance`` is None.
    """
    if isinstance(identity, Node):
        if instance is None:
            instance = identity.instance
        identity = identity.identity
    if isinstance(identity, Identity):
        identity = str(identity)
    if not isinstance(identity, str):
        raise TypeError(
            f'identity must be a str, Identity or Node, not {type(identity).__name__}'
        )
    try:
        _lime.parse_node(identity)
    except ValueError as error:
        raise _EnvelopeParseError(f'invalid identity {identity!r}: {error}') from None
    to_json = getattr(authentication, 'to_json', None)
    if not callable(to_json):
        raise TypeError(
            f'authentication must be an Authentication, not {type(authentication).__name__}'
        )
    credentials = to_json()
    wire = _lime.canonical({'state': SessionState.AUTHENTICATING,
                            'scheme': credentials.get('scheme'),
                            'authentication': credentials})
    if 'scheme' not in wire:
        raise _EnvelopeParseError(
            'the authentication has no scheme (expected one of: guest, plain, transport, key, '
            'external)'
        )
    return identity, None if instance is None else str(instance)


def _first(options):
    return options[0] if options else 'none'

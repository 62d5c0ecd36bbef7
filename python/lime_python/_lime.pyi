"""Native core of lime-python (Rust, pyo3): codec, the LIME channel core, native transports,
and the routing server. Everything protocol-related that lime_python does is done here; the
pure-Python modules keep lime-python 2.0.13's public API on top of it."""

from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union, final

__all__ = [
    "__version__",
    "loads",
    "dumps",
    "canonical",
    "parse_node",
    "camelize",
    "decamelize",
    "serializable_to_json",
    "from_json_kwargs",
    "ChannelCore",
    "Inbound",
    "LoopConnection",
    "Server",
    "_shutdown",
    "_reseed_ids",
]

__version__: str

# ----- codec --------------------------------------------------------------------------------

def loads(data: Union[str, bytes]) -> Dict[str, Any]:
    """Parses one envelope and returns its canonical wire dict (C# form: camelCase keys, nulls
    omitted). Raises lime_python.errors.EnvelopeParseError (a ValueError)."""

def dumps(envelope: Dict[str, Any]) -> str:
    """Serializes a wire dict to canonical JSON, validating it as a LIME envelope.
    Raises EnvelopeParseError."""

def canonical(envelope: Dict[str, Any]) -> Dict[str, Any]:
    """dumps then loads, without the text: the canonical form of a wire dict."""

def parse_node(value: str) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """(name, domain, instance) by the C# rules. Raises ValueError for '', blank and '@'."""

def camelize(key: str) -> str:
    """lime-python's key mapping to JSON: `from_n` -> `from`, `type_n` -> `type`, snake_case ->
    camelCase (as pyhumps does). Cached."""

def decamelize(key: str) -> str:
    """lime-python's key mapping from JSON: camelCase -> snake_case, `from` -> `from_n`,
    `type` -> `type_n`. Cached."""

def serializable_to_json(obj: Any, serializable_type: type) -> Dict[str, Any]:
    """lime-python's Serializable.to_json: every attribute of obj.__dict__ not starting with
    '_' and not None, keys camelized, values that are instances of serializable_type via their
    to_json(), other objects with __dict__ via str(), anything else as is."""

def from_json_kwargs(raw: Dict[str, Any]) -> Dict[str, Any]:
    """The constructor keyword arguments lime-python's Serializable.from_json builds: keys
    decamelized (with `from_n`/`type_n`), values as is."""

# ----- channel core -------------------------------------------------------------------------

@final
class Inbound:
    """What to do with a received envelope (see ChannelCore.receive)."""
    deliver_kind: Optional[str]          # 'message' | 'notification' | 'command'
    deliver: Optional[Dict[str, Any]]    # hand to the application
    reply: Optional[Dict[str, Any]]      # transmit (ping reply, receipt)
    response: Optional[Dict[str, Any]]   # the response of a pending command...
    completion: Any                      # ...and the object registered with it
    session: Optional[Dict[str, Any]]    # a session envelope was received (state updated)
    close: bool                          # the session ended: close the transport

@final
class ChannelCore:
    """The Rust channel core (session state machine, correlation, ping replies, receipts).
    Envelopes in and out are wire dicts."""
    def __new__(
        cls,
        role: str = "client",
        auto_reply_pings: bool = True,
        auto_notify_receipt: bool = False,
        receipt_target: str = "sender",      # 'sender' (pp or from) | 'to' (lime-python 2.0.13)
        deliver_answered_pings: bool = False,
        assign_ids: str = "commands",        # 'commands' | 'all'
        fill_envelope_recipients: bool = False,
    ) -> "ChannelCore": ...
    # Writable, because lime-python's API lets applications assign them.
    state: str                        # parsed case-insensitively; ValueError if unknown
    session_id: Optional[str]
    local_node: Optional[str]         # parsed as a node; ValueError if invalid
    remote_node: Optional[str]
    auto_reply_pings: bool
    auto_notify_receipt: bool
    @property
    def pending_commands(self) -> int: ...
    def start_new_session(self) -> Dict[str, Any]: ...
    def negotiate_session(self, compression: str, encryption: str) -> Dict[str, Any]: ...
    def authenticate_session(
        self, identity: str, authentication: Dict[str, Any], instance: Optional[str] = None
    ) -> Dict[str, Any]:
        """authentication is the wire object plus its scheme: {'scheme': 'plain', 'password': '...'}."""
    def finishing_session(self) -> Dict[str, Any]: ...
    def prepare_send(self, envelope: Dict[str, Any]) -> Dict[str, Any]:
        """State rules and id assignment for an outgoing envelope. Raises ChannelStateError."""
    def register_command(self, command: Dict[str, Any], completion: Any) -> Dict[str, Any]:
        """Registers a request for correlation (assigns its id). Raises ChannelStateError /
        ValueError for a duplicate id."""
    def cancel_command(self, id: str) -> Any: ...
    def drain_pending(self) -> List[Any]: ...
    def receive(self, envelope: Dict[str, Any]) -> Inbound:
        """Raises ChannelStateError for envelopes not allowed in the current state."""

# ----- native transports --------------------------------------------------------------------

@final
class LoopConnection:
    """One LIME client connection (net.tcp://, ws://, wss://) run on the asyncio loop thread: the
    asyncio.Protocol of a plain socket that asyncio owns. Each received chunk is handled in one
    native call (TLS, WebSocket or TCP framing, gzip, the channel core and its automatic replies),
    which writes what it produced to the asyncio transport, resolves command futures and calls
    on_batch once with the deliveries: ('envelope', dict) items before attach(), then
    ('message'|'notification'|'command', object-or-dict), ('session', dict); ('closed',
    error_or_None) is the last item. Sends write to the asyncio transport before returning.
    Once attached it is also the channel's core (channel._core): same attributes and methods as
    ChannelCore, kept by the connection."""
    def __new__(
        cls,
        uri: str,
        on_batch: Callable[[List[Tuple[str, Any]]], None],
        ca_pem: Optional[bytes] = None,
        client_cert_pem: Optional[bytes] = None,
        client_key_pem: Optional[bytes] = None,
        max_envelope_size: int = ...,
        max_write_buffer_size: int = ...,
        handshake_timeout: Optional[float] = None,
        remote_ping_interval: Optional[float] = None,
        remote_idle_timeout: Optional[float] = None,
        use_default_roots: bool = True,
    ) -> "LoopConnection":
        """Must be called with an asyncio loop running. Raises the open errors of
        lime_python.errors (InvalidUriError for a bad URI). Timeouts in seconds:
        handshake_timeout (30 by default) ends the connection when the server leaves a session
        envelope of ours unanswered; remote_ping_interval sends a /ping after that much silence
        from the server, and remote_idle_timeout then finishes the session when it stays
        silent (both off by default). use_default_roots=False trusts only ca_pem (not the
        Mozilla roots)."""
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def ready(self) -> Awaitable[None]:
        """Resolved once envelopes can be sent (TCP connected; WebSocket upgraded, after TLS for
        wss); fails with ConnectionOpenError and the like when the opening fails."""
    def attach(
        self,
        source: Any,
        message_class: Optional[type] = None,
        notification_class: Optional[type] = None,
        reason_class: Optional[type] = None,
        command_class: Optional[type] = None,
    ) -> None:
        """Takes over the options and state of source (a ChannelCore or a LoopConnection).
        Received messages and notifications then arrive as instances of the classes (commands
        too, and command responses resolve futures with one, when command_class is given)."""
    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    # asyncio.BufferedProtocol (used through a Python subclass that also derives from it)
    def get_buffer(self, sizehint: int) -> bytearray: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def eof_received(self) -> bool: ...
    def connection_lost(self, exc: Optional[BaseException] = None) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def _on_timer(self) -> None: ...
    # sending
    def send_with(self, core: Any, envelope: Dict[str, Any]) -> Optional[str]:
        """Sends a wire dict; returns its (possibly assigned) id. core is not used (the
        connection is the core); kept for the channel's calling convention."""
    def send_message_with(self, core: Any, message: Any) -> Optional[str]:
        """send_with for an exact lime_python Message object, read from its attributes."""
    def request_with(
        self, core: Any, request: Dict[str, Any], completion: Any, timeout: Optional[float] = None
    ) -> str:
        """Registers and sends a command request (a wire dict) in one call; returns its id. Its
        response resolves completion (an asyncio future), which fails with
        asyncio.TimeoutError after timeout seconds (None or <= 0: no timeout here). Nothing is
        registered when it raises (errors as send and register_command)."""
    def request(
        self, command: Any, timeout: Optional[float] = None
    ) -> Optional[Tuple[str, Awaitable[Any]]]:
        """Reads an exact lime_python Command request from its attributes, registers and sends
        it in one call; returns (id, future), the future (an asyncio.Future of the connection's
        loop) resolved with the response or failing with asyncio.TimeoutError after timeout
        seconds; completed while the connection handles a read, it wakes its task in that
        event-loop turn (its callbacks run once the read is handled). None,
        with nothing registered, for a command it does not take as it is (status, reason or
        timeout set, extra attributes, values that are not plain text, a document the core
        would rewrite): send it the general way. Errors as request_with."""
    def send(self, envelope: Union[Dict[str, Any], str]) -> None:
        """Sends one envelope (a wire dict or JSON text). Raises ConnectionClosedError when
        closed, EnvelopeParseError for invalid envelopes, ChannelStateError in the wrong state,
        EnvelopeTooLargeError above max_envelope_size (the connection stays up) and
        WriteBufferFullError when writing is paused and max_write_buffer_size is exceeded."""
    def send_text(self, text: str) -> None:
        """Sends JSON text as it is (not parsed again); same errors as send."""
    def drain(self) -> Awaitable[None]:
        """Resolved when asyncio accepts writes again (at once when it is not paused)."""
    def close(self) -> Awaitable[None]:
        """Closes (WebSocket close frame / TLS close_notify first); resolved once the socket is
        closed."""
    def abort(self) -> None:
        """Ends the connection at once, dropping what asyncio still holds for the peer."""
    @property
    def handshake_timeout(self) -> float:
        """The limit of each handshake step in seconds (the given one, or the default)."""
    @property
    def is_open(self) -> bool: ...
    @property
    def open(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def encryption(self) -> str: ...
    @property
    def compression(self) -> str: ...
    @property
    def subprotocol(self) -> Optional[str]: ...
    @property
    def pending_output(self) -> int: ...
    @property
    def write_buffer_size(self) -> int:
        """Bytes waiting for the peer: asyncio's write buffer plus pending_output."""
    @property
    def writing_paused(self) -> bool: ...
    def supported_encryption(self) -> List[str]: ...
    def supported_compression(self) -> List[str]: ...
    # the channel core
    state: str
    session_id: Optional[str]
    local_node: Optional[str]
    remote_node: Optional[str]
    auto_reply_pings: bool
    auto_notify_receipt: bool
    @property
    def pending_commands(self) -> int: ...
    def start_new_session(self) -> Dict[str, Any]: ...
    def negotiate_session(self, compression: str, encryption: str) -> Dict[str, Any]: ...
    def authenticate_session(
        self, identity: str, authentication: Dict[str, Any], instance: Optional[str] = None
    ) -> Dict[str, Any]: ...
    def finishing_session(self) -> Dict[str, Any]: ...
    def prepare_send(self, envelope: Dict[str, Any]) -> Dict[str, Any]: ...
    def register_command(self, command: Dict[str, Any], completion: Any) -> Dict[str, Any]: ...
    def cancel_command(self, id: str) -> Optional[Any]: ...
    def drain_pending(self) -> List[Any]: ...

# ----- server -------------------------------------------------------------------------------

@final
class Server:
    """The Rust routing server."""
    @staticmethod
    def start(
        tcp: List[str] = ...,
        ws: List[str] = ...,
        domain: str = ...,
        cert_pem: Optional[bytes] = None,
        key_pem: Optional[bytes] = None,
        wss: bool = False,
        guest: bool = True,
        users: Optional[List[Tuple[str, str, str]]] = None,
        authenticator: Optional[Callable[[str, Dict[str, Any]], Union[bool, Awaitable[bool]]]] = None,
        handshake_timeout: float = 30.0,
        max_envelope_size: int = ...,
        guest_domain: Optional[str] = None,
        require_tls: bool = False,
        allow_cleartext_passwords: bool = False,
        queue_capacity: int = 256,
        queue_max_bytes: int = ...,
        send_timeout: float = 30.0,
    ) -> Awaitable["Server"]:
        """Binds and starts. users: (identity, 'plain'|'key', secret). authenticator(node,
        authentication_dict) is called on the asyncio loop for every attempt (it may be async);
        its scheme options are the authentication schemes 'plain', 'key', 'external' plus guest
        when guest=True."""
    @property
    def tcp_addresses(self) -> List[str]: ...
    @property
    def ws_addresses(self) -> List[str]: ...
    @property
    def session_count(self) -> int: ...
    def shutdown(self) -> Awaitable[None]: ...

def _reseed_ids() -> None:
    """Makes the next envelope id draw a new random base (registered with
    os.register_at_fork for forked children)."""

def _shutdown() -> None:
    """Stops the tokio runtime of the Server, if one was started (registered with atexit)."""

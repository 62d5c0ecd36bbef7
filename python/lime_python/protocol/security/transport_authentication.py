from ..constants import AuthenticationScheme
from .authentication import Authentication


class TransportAuthentication(Authentication):
    """The identity is proven by the transport (a TLS client certificate)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(AuthenticationScheme.TRANSPORT, **kwargs)

from ..constants import AuthenticationScheme
from .authentication import Authentication


class GuestAuthentication(Authentication):
    """No credentials (the server decides whether guests are welcome)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(AuthenticationScheme.GUEST, **kwargs)

from ..constants import AuthenticationScheme
from .authentication import Authentication


class KeyAuthentication(Authentication):
    """An access key; ``key`` is the **base64** of the key (LIME's wire form)."""

    def __init__(self, key: str = None, **kwargs) -> None:
        super().__init__(AuthenticationScheme.KEY, **kwargs)
        self.key = key

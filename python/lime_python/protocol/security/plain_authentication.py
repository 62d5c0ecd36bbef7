from ..constants import AuthenticationScheme
from .authentication import Authentication


class PlainAuthentication(Authentication):
    """A password; ``password`` is the **base64** of the UTF-8 password (LIME's wire form)."""

    def __init__(self, password: str = None, **kwargs) -> None:
        super().__init__(AuthenticationScheme.PLAIN, **kwargs)
        self.password = password

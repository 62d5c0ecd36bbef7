from ..serializable import Serializable


class Authentication(Serializable):
    """Credentials sent in the ``authenticating`` session; ``scheme`` names the kind."""

    def __init__(self, scheme: str = None, **kwargs) -> None:
        self.scheme = scheme

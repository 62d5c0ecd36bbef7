from .. import _lime
from .constants import CommonConstants


class Identity:
    """``name@domain``. Parsed by the C# rules; compared case-insensitively."""

    def __init__(self, name: str = None, domain: str = None) -> None:
        self.name = name
        self.domain = domain

    def __str__(self) -> str:
        """``name@domain``, or just ``name`` without a domain (None; an empty domain keeps the
        ``@``)."""
        if self.domain is None:
            return str(self.name)
        name = '' if self.name is None else self.name
        return f'{name}{CommonConstants.DOMAIN_SEPARATOR}{self.domain}'

    def __repr__(self) -> str:
        return f'Identity({self.name!r}, {self.domain!r})'

    def __eq__(self, other) -> bool:
        """Same name and domain, ignoring case. False for anything but an Identity."""
        if not isinstance(other, Identity):
            return NotImplemented
        return _same(self.name, other.name) and _same(self.domain, other.domain)

    def __hash__(self) -> int:
        return hash(str(self).casefold())

    @staticmethod
    def parse_str(possible_identity: str):
        """Parses ``name@domain`` (anything after a ``/`` in the domain part is ignored).

        Returns None when the text is not an identity (not a str, blank, ``@``).
        """
        parts = _parse(possible_identity)
        if parts is None:
            return None
        name, domain, _instance = parts
        return Identity(name, domain)

    @staticmethod
    def parse(possible_identity):
        """An Identity from an Identity (itself), a Node (its identity) or a str."""
        from .node import Node  # noqa: WPS433

        if isinstance(possible_identity, Identity):
            return possible_identity
        if isinstance(possible_identity, Node):
            return possible_identity.identity
        return Identity.parse_str(possible_identity)


def _same(left, right) -> bool:
    if left is None or right is None:
        return left is right
    return str(left).casefold() == str(right).casefold()


def _parse(text):
    """(name, domain, instance) by the core's rules, or None for what is not a node."""
    if not isinstance(text, str):
        return None
    try:
        name, domain, instance = _lime.parse_node(text)
    except ValueError:
        return None
    if not domain and name is not None and '@' in text:
        # An empty domain (``a@``, ``a@/x``): C# leaves it out of the identity's text and so
        # shifts the instance (``a@`` → instance ``''``, printed ``a/``). Keep the text as
        # written, as lime-python did: domain ``''``, and the instance after the ``/``.
        rest = text[text.index('@') + 1:]
        domain = ''
        instance = rest[1:] if rest.startswith(CommonConstants.INSTANCE_SEPARATOR) else None
    return name, domain, instance

from .constants import CommonConstants
from .identity import Identity, _parse, _same


class Node:
    """``name@domain/instance``: an ``identity`` (an Identity) and an ``instance``.

    Parsed by the C# rules (the instance is everything after the first ``/`` that follows the
    domain, so it may contain ``/``); compared case-insensitively.
    """

    def __init__(self, identity=None, instance: str = None) -> None:
        self.identity = identity
        self.instance = instance

    def to_identity(self):
        """The identity part."""
        return self.identity

    def __eq__(self, other) -> bool:
        """Same identity and instance, ignoring case. False for anything but a Node."""
        if not isinstance(other, Node):
            return NotImplemented
        return self.identity == other.identity and _same(self.instance, other.instance)

    def __hash__(self) -> int:
        return hash(str(self).casefold())

    def __str__(self) -> str:
        """``identity`` or ``identity/instance`` (an empty instance keeps the ``/``)."""
        if self.instance is None:
            return str(self.identity)
        return f'{self.identity}{CommonConstants.INSTANCE_SEPARATOR}{self.instance}'

    def __repr__(self) -> str:
        return f'Node({self.identity!r}, {self.instance!r})'

    @staticmethod
    def parse_str(possible_node: str):
        """Parses ``name@domain/instance``. Returns None when the text is not a node (not a str,
        blank, ``@``)."""
        parts = _parse(possible_node)
        if parts is None:
            return None
        name, domain, instance = parts
        return Node(Identity(name, domain), instance)

    @staticmethod
    def parse(possible_node):
        """A Node from a Node (itself), an Identity (no instance) or a str."""
        if isinstance(possible_node, Node):
            return possible_node
        if isinstance(possible_node, Identity):
            return Node(possible_node)
        return Node.parse_str(possible_node)

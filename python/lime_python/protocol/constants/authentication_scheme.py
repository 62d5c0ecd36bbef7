class AuthenticationScheme:
    """Authentication scheme names (``Session.scheme``)."""

    GUEST = 'guest'
    PLAIN = 'plain'
    TRANSPORT = 'transport'
    KEY = 'key'
    EXTERNAL = 'external'

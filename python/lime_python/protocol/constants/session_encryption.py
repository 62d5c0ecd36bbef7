class SessionEncryption:
    """Session encryption options."""

    NONE = 'none'
    TLS = 'tls'

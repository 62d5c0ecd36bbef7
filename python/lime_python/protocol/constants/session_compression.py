class SessionCompression:
    """Session compression options."""

    NONE = 'none'
    GZIP = 'gzip'

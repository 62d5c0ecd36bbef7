class CommonConstants:
    """Separators of node strings and the ping URI."""

    DOMAIN_SEPARATOR = '@'
    INSTANCE_SEPARATOR = '/'
    PING = '/ping'

class ContentTypes:
    """Media types lime-python names."""

    PING = 'application/vnd.lime.ping+json'
    COLLECTION = 'application/vnd.lime.collection+json'

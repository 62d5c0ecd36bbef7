class CommandMethod:
    """Command methods (``Command.method``)."""

    GET = 'get'
    SET = 'set'
    DELETE = 'delete'
    MERGE = 'merge'
    OBSERVE = 'observe'
    SUBSCRIBE = 'subscribe'
    UNSUBSCRIBE = 'unsubscribe'

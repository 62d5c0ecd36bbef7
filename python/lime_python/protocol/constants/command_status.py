class CommandStatus:
    """Command response statuses (a request has no status: it is pending)."""

    SUCCESS = 'success'
    FAILURE = 'failure'

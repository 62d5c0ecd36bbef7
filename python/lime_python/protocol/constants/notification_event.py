class NotificationEvent:
    """Notification events (``Notification.event``)."""

    FAILED = 'failed'
    ACCEPTED = 'accepted'
    VALIDATED = 'validated'
    AUTHORIZED = 'authorized'
    DISPATCHED = 'dispatched'
    RECEIVED = 'received'
    CONSUMED = 'consumed'

from .websocket_transport import *  # noqa: F401,F403

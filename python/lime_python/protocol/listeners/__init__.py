from .command_listener import *  # noqa: F401,F403
from .envelope_listener import *  # noqa: F401,F403
from .message_listener import *  # noqa: F401,F403
from .notification_listener import *  # noqa: F401,F403
from .session_listener import *  # noqa: F401,F403

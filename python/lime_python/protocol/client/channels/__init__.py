from .command_channel import *  # noqa: F401,F403
from .message_channel import *  # noqa: F401,F403
from .notification_channel import *  # noqa: F401,F403
from .session_channel import *  # noqa: F401,F403

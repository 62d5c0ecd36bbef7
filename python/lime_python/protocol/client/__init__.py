from .channel import *  # noqa: F401,F403
from .command_processor import *  # noqa: F401,F403
from .channels import *  # noqa: F401,F403
from .client_channel import *  # noqa: F401,F403

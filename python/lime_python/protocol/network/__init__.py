from .transport import *  # noqa: F401,F403

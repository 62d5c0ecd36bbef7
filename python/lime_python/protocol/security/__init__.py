from .authentication import *  # noqa: F401,F403
from .external_authentication import *  # noqa: F401,F403
from .guest_authentication import *  # noqa: F401,F403
from .key_authentication import *  # noqa: F401,F403
from .plain_authentication import *  # noqa: F401,F403
from .transport_authentication import *  # noqa: F401,F403

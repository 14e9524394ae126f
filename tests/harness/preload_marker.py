"""Records which process imported it: the preload server, or a process of its own."""

import os

IMPORTED_IN = os.getpid()

"""The harness library: boots a backend, an SSE gateway and a frontend per worker.

Nothing here imports pytest; ``fixtures/`` wires these pieces into pytest.
"""

from .config import HarnessConfig, ServiceSpec, resolve_config
from .errors import HarnessError
from .stack import Stack

__all__ = ["HarnessConfig", "HarnessError", "ServiceSpec", "Stack", "resolve_config"]

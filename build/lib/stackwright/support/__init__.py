"""The harness library (``stackwright.support``): boots a team's configured services
per worker, and the run-scoped ones once.

Nothing here imports pytest; ``stackwright.fixtures`` wires these pieces into pytest.
"""

from .config import HarnessConfig, resolve_config
from .errors import HarnessError
from .services import ServiceSpec
from .stack import Stack

__all__ = ["HarnessConfig", "HarnessError", "ServiceSpec", "Stack", "resolve_config"]

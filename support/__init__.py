"""The harness library (``stackwright.support``): boots a team's configured services
per worker, and the run-scoped ones once.

Nothing here imports pytest; ``stackwright.fixtures`` wires these pieces into pytest.
"""

from stackwright.support.config.resolve import resolve_config
from stackwright.support.config.services import ServiceSpec
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.errors import HarnessError
from stackwright.support.processes.stack import Stack

__all__ = ["HarnessConfig", "HarnessError", "ServiceSpec", "Stack", "resolve_config"]

"""stackwright: an end-to-end test harness that boots a team's services per pytest-xdist worker.

What a test author imports is here, on one face: ``from stackwright import
TestEventBuffer, ExpectConsoleError, Stack, HarnessError``. Those names stay when the
modules behind them move; a module that moved keeps its old path for one release,
with a DeprecationWarning naming the new one.

The import names behind it are ``stackwright.support`` (the library, no pytest) and
``stackwright.fixtures`` (the pytest plugin). In the repository they are the
``support/`` and ``fixtures/`` folders, mapped to those names by ``pyproject.toml``
(``[tool.setuptools] package-dir``), so installing the harness puts no ``support``,
``fixtures`` or ``app`` into a virtualenv, where PyPI's ``fixtures`` or a team's ``app``
would clash with them.

Names are imported when first used: a service's process that imports a module of the
harness (a preload server) does not pay for the browser's.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType
from typing import Any

#: The public face: each name, and the module that defines it.
_FACE = {
    "TestEventBuffer": "stackwright.support.browser.events",
    "ExpectConsoleError": "stackwright.support.browser.page_policy",
    "PagePolicy": "stackwright.support.browser.page_policy",
    "PageRecorder": "stackwright.support.browser.page_record",
    "Stack": "stackwright.support.processes.stack",
    "LogSlice": "stackwright.support.processes.logs",
    "HarnessConfig": "stackwright.support.config.settings",
    "ServiceSpec": "stackwright.support.config.services",
    "HarnessError": "stackwright.support.errors",
    "ConfigError": "stackwright.support.errors",
    "ServiceError": "stackwright.support.errors",
    "ServiceDown": "stackwright.support.errors",
    "RunServiceDown": "stackwright.support.errors",
    "KeptUnavailable": "stackwright.support.errors",
    "PagePolicyViolation": "stackwright.support.errors",
    "TestEventTimeout": "stackwright.support.errors",
    "DatabaseResetFailed": "stackwright.support.errors",
}

#: Modules that moved in the last release: old path -> new path.
MOVED = {
    "stackwright.support.events": "stackwright.support.browser.events",
    "stackwright.support.page_policy": "stackwright.support.browser.page_policy",
    "stackwright.support.page_record": "stackwright.support.browser.page_record",
    "stackwright.support.browsers": "stackwright.support.browser.chromium",
    "stackwright.support.remote_browser": "stackwright.support.browser.remote",
    "stackwright.support.video": "stackwright.support.browser.video",
    "stackwright.support.stack": "stackwright.support.processes.stack",
    "stackwright.support.logs": "stackwright.support.processes.logs",
    "stackwright.support.health": "stackwright.support.processes.health",
    "stackwright.support.services": "stackwright.support.config.services",
    "stackwright.support.envdoc": "stackwright.support.config.envdoc",
}

try:
    __version__ = version("stackwright")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__", *_FACE]


def __getattr__(name: str) -> Any:
    module = _FACE.get(name)
    if module is None:
        raise AttributeError(f"module 'stackwright' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _Moved(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves an old module path as the module that moved, with a DeprecationWarning."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        names = sorted(name for name, module in _FACE.items() if module == new)
        instead = f"from stackwright import {', '.join(names)}" if names else f"import {new}"
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in the next release: {instead}",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module is the new one, already run."""


if not any(isinstance(finder, _Moved) for finder in sys.meta_path):
    sys.meta_path.append(_Moved())

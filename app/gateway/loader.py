"""Import aiohttp's server before the gateway listens and its client after.

``import aiohttp.web`` first runs aiohttp's package ``__init__``, which imports
the whole HTTP client (connector, cookie jar, tracing, ...), and asyncio and
aiohttp load the ssl module (OpenSSL) and, for the client, the system CA
bundle. The gateway serves plain HTTP only, and its one client request is the
callback to CALLBACK_URL, which is almost always http. So:

- ``import_server(tls=False)`` blocks the ssl module before anything imports
  it (asyncio and aiohttp both run without it, by design), then loads
  ``aiohttp.web`` with the package's ``__init__`` deferred;
- ``complete()`` runs that ``__init__`` when the first callback needs the
  client (about 25 ms, once), so ``aiohttp`` is whole from then on. Loading it
  in a background thread right after listening was tried: the thread holds
  the GIL while the first requests wait for it, so /readyz got no sooner.

If aiohttp's layout ever makes the deferral fail, the package is imported
whole, the ordinary way. With an https callback, ssl loads as usual.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from types import ModuleType

#: aiohttp's package while its ``__init__`` is deferred; None once it has run.
_deferred: ModuleType | None = None
_VERSION = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def import_server(*, tls: bool) -> None:
    """Import ``aiohttp.web`` without aiohttp's client; without ssl unless ``tls``."""
    if not tls and "ssl" not in sys.modules:
        sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` now fails
    if "aiohttp.web" in sys.modules:
        return
    try:
        _import_web_first()
    except Exception:  # any surprise: import aiohttp the ordinary way
        for name in [m for m in sys.modules if m == "aiohttp" or m.startswith("aiohttp.")]:
            del sys.modules[name]
        import aiohttp.web  # noqa: F401


def _import_web_first() -> None:
    spec = importlib.util.find_spec("aiohttp")
    if spec is None or spec.loader is None or spec.origin is None:
        raise ImportError("aiohttp is not installed")
    with open(spec.origin, encoding="utf-8") as source:
        match = _VERSION.search(source.read())
    if match is None:
        raise ImportError("aiohttp's __init__ names no __version__")
    package = importlib.util.module_from_spec(spec)
    package.__version__ = match.group(1)  # type: ignore[attr-defined]  # read by aiohttp.http
    sys.modules["aiohttp"] = package
    import aiohttp.web  # noqa: F401

    global _deferred
    _deferred = package


def complete() -> None:
    """Run aiohttp's package ``__init__`` if ``import_server`` deferred it; idempotent.

    Called from the event loop's thread only.
    """
    global _deferred
    package, _deferred = _deferred, None
    if package is None:
        return
    spec = package.__spec__
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(package)

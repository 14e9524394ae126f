"""The test-event bridge: the page's ``__playwright_emitTestEvent`` into a bounded buffer.

The frontend reports instrumented moments (stream opened, list loaded,
dialog step changed); tests wait on them instead of sleeping. Each event is
consumed once by ``wait_for``.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from playwright.sync_api import BrowserContext, Page

from stackwright.support.errors import TestEventTimeout

BINDING = "__playwright_emitTestEvent"
DEFAULT_CAPACITY = 500
HISTORY = 200
POLL_MS = 10


class TestEventBuffer:
    """Events from every page of one browser context, each consumed once."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.pending: deque[dict[str, Any]] = deque()
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        #: (time received, event) of the same events, for the test's timeline.
        self.received: deque[tuple[float, dict[str, Any]]] = deque(maxlen=HISTORY)
        self.overflowed = 0
        self._context: BrowserContext | None = None

    def attach(self, context: BrowserContext) -> TestEventBuffer:
        self._context = context
        context.expose_binding(BINDING, self._receive)
        return self

    def _receive(self, _source: Any, event: Any) -> None:
        if not isinstance(event, dict):
            event = {"kind": "invalid", "value": event}
        self.history.append(event)
        self.received.append((time.time(), event))
        if len(self.pending) >= self.capacity:
            self.overflowed += 1
            return
        self.pending.append(event)

    def take(
        self,
        kind: str,
        match: Mapping[str, Any],
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any] | None:
        """Remove and return the first pending event that matches, if any."""
        for event in self.pending:
            if (
                event.get("kind") == kind
                and _matches(event, match)
                and (predicate is None or predicate(event))
            ):
                self.pending.remove(event)
                return event
        return None

    def wait_for(
        self,
        kind: str,
        *,
        timeout: float = 10.0,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        **match: Any,
    ) -> dict[str, Any]:
        """Wait for an event of ``kind`` whose fields equal ``match``.

        A mapping in ``match`` (such as ``data={...}``) matches a sub-mapping.
        """
        deadline = time.monotonic() + timeout
        while True:
            event = self.take(kind, match, predicate)
            if event is not None:
                return event
            if time.monotonic() >= deadline:
                raise TestEventTimeout(
                    {"kind": kind, **match}, timeout, list(self.history), binding=BINDING
                )
            self._pump()

    def _pump(self) -> None:
        """Let Playwright deliver binding calls: they only arrive during a Playwright call."""
        page = self._any_page()
        if page is None:
            time.sleep(POLL_MS / 1000)
        else:
            page.wait_for_timeout(POLL_MS)

    def _any_page(self) -> Page | None:
        if self._context is None:
            return None
        pages = [page for page in self._context.pages if not page.is_closed()]
        return pages[0] if pages else None

    def dump(self) -> str:
        return "\n".join(json.dumps(event, default=str) for event in self.history)


def _matches(event: Mapping[str, Any], match: Mapping[str, Any]) -> bool:
    for key, expected in match.items():
        actual = event.get(key)
        if isinstance(expected, Mapping) and isinstance(actual, Mapping):
            if not _matches(actual, expected):
                return False
        elif actual != expected:
            return False
    return True

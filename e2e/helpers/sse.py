"""The reference app's SSE stream, driven through its test-mode ``window.__sseControls``.

Facts of the reference app (the controls' name, the 'open' status, the stream id
``main``) live here in the suite, not in the harness.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from stackwright.support.browser import TestEventBuffer


class SseHelper:
    """Drive and observe the page's single SSE stream."""

    def __init__(self, page: Page, events: TestEventBuffer) -> None:
        self.page = page
        self.events = events

    def _controls(self, call: str) -> Any:
        return self.page.evaluate(
            "call => { const c = window.__sseControls;"
            " if (!c) throw new Error('window.__sseControls is missing on ' + location.href +"
            " ': open a page of the app first (the controls exist in VITE_TEST_MODE only)');"
            " return c[call](); }",
            call,
        )

    def wait_connected(self, *, timeout: float = 10.0) -> str:
        """Wait until the stream is open (the gateway sent ``ready``); return the request_id."""
        self.page.wait_for_function(
            "() => window.__sseControls && window.__sseControls.getStatus() === 'open'",
            timeout=timeout * 1000,
        )
        return self.request_id()

    def status(self) -> str:
        return str(self._controls("getStatus"))

    def request_id(self) -> str:
        return str(self._controls("getRequestId"))

    def disconnect(self) -> None:
        self._controls("disconnect")

    def reconnect(self) -> None:
        self._controls("reconnect")

    def wait_event(self, name: str, /, *, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """Wait for a message named ``name`` whose payload contains ``match``.

        ``name`` is positional-only, so any payload field may be matched by keyword.
        """
        return self.events.wait_for(
            "sse", timeout=timeout, streamId="main", phase="message", event=name, data=match
        )

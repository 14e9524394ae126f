"""What the page did during one test, with the page's own times: console messages, page
errors, requests the page's code made, and the Server-Sent Events frames it received.

The frames come from a wrapper around ``EventSource`` installed before any page
script: it reports each frame of a type the page listens for, when it arrives
(``Date.now()`` in the page, since Playwright delivers binding calls late).
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from playwright.sync_api import BrowserContext, ConsoleMessage, Request, Response, WebError

from stackwright.support.stamps import Entry, clock, parse_stamp

SSE_BINDING = "__stackwright_sse"
#: The most entries one test keeps (the oldest go first).
CAPACITY = 5000
#: Requests worth a line: what the page's code asked for, not its scripts and images.
REQUEST_TYPES = frozenset({"document", "fetch", "xhr", "eventsource", "websocket"})

SSE_RECORDER = """
(() => {
  const Native = window.EventSource;
  if (!Native || Native.__stackwright) return;
  const send = (source, what, type, data, id) => {
    try {
      const frame = { time: Date.now(), url: source.url, what, type };
      window.BINDING({ ...frame, data: String(data ?? ''), id: id || '' });
    } catch (e) {}
  };
  const watched = new WeakMap();
  const watch = (source, type) => {
    const types = watched.get(source);
    if (!types || types.has(type) || type === 'open' || type === 'error') return;
    types.add(type);
    Native.prototype.addEventListener.call(source, type, (event) =>
      send(source, 'frame', type, event.data, event.lastEventId));
  };
  class RecordedEventSource extends Native {
    constructor(url, init) {
      super(url, init);
      watched.set(this, new Set());
      const on = (type, listener) => Native.prototype.addEventListener.call(this, type, listener);
      on('open', () => send(this, 'open', 'open', '', ''));
      on('error', () =>
        send(this, 'error', 'error', 'readyState ' + this.readyState, ''));
      watch(this, 'message');
    }
    addEventListener(type, listener, options) {
      watch(this, type);
      return super.addEventListener(type, listener, options);
    }
  }
  RecordedEventSource.__stackwright = true;
  window.EventSource = RecordedEventSource;
})();
""".replace("BINDING", SSE_BINDING)


class PageRecorder:
    """Timeline entries of every page of one browser context."""

    def __init__(self, *, capacity: int = CAPACITY) -> None:
        self.entries: deque[Entry] = deque(maxlen=capacity)
        self.console: deque[str] = deque(maxlen=capacity)

    def attach(self, context: BrowserContext) -> PageRecorder:
        context.expose_binding(SSE_BINDING, self._on_sse)
        context.add_init_script(SSE_RECORDER)
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)
        context.on("response", self._on_response)
        context.on("requestfailed", self._on_request_failed)
        return self

    def _add(self, when: float, source: str, text: str) -> None:
        self.entries.append(Entry(when, source, text))

    def _on_console(self, message: ConsoleMessage) -> None:
        stamp = getattr(message, "timestamp", None)
        when = stamp / 1000 if isinstance(stamp, (int, float)) and stamp > 0 else time.time()
        location = message.location or {}
        where = (
            f" ({location['url']}:{location.get('lineNumber', 0)})" if location.get("url") else ""
        )
        self._add(when, "page console", f"{message.type}: {message.text}")
        self.console.append(f"{clock(when)} {message.type}: {message.text}{where}")

    def _on_web_error(self, error: WebError) -> None:
        when = time.time()
        self._add(when, "page error", str(error.error))
        self.console.append(f"{clock(when)} page error: {error.error}")

    def _on_response(self, response: Response) -> None:
        self._request_line(response.request, str(response.status))

    def _on_request_failed(self, request: Request) -> None:
        self._request_line(request, f"failed: {request.failure}")

    def _request_line(self, request: Request, outcome: str) -> None:
        if request.resource_type not in REQUEST_TYPES:
            return
        started = request.timing.get("startTime", 0) / 1000
        when = started if started > 0 else time.time()
        self._add(when, "page request", f"{request.method} {request.url} -> {outcome}")

    def _on_sse(self, _source: Any, frame: Any) -> None:
        if not isinstance(frame, dict):
            return
        when = frame.get("time")
        when = when / 1000 if isinstance(when, (int, float)) else time.time()
        what, kind, url = frame.get("what"), frame.get("type"), frame.get("url", "")
        if what == "frame":
            data = str(frame.get("data", ""))
            text = f"{kind}: {data}" + (f" (id {frame['id']})" if frame.get("id") else "")
        else:
            text = f"{what} {url}" + (f" ({frame['data']})" if frame.get("data") else "")
        self._add(when, "page sse", text)


def event_entries(events: list[tuple[float, dict[str, Any]]]) -> list[Entry]:
    """Test events as timeline entries, at the page's own ``timestamp`` when they carry one."""
    entries = []
    for received, event in events:
        when = _iso_time(event.get("timestamp")) or received
        entries.append(Entry(when, "page test event", json.dumps(event, default=str)))
    return entries


def _iso_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    stamp = parse_stamp(value)
    return stamp[0] if stamp else None

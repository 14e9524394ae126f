"""With a real browser: first page load (cold, warm) and SSE delivery into the dialog."""

from __future__ import annotations

import time
from typing import Any

import requests
from playwright.sync_api import Browser, Page, sync_playwright

from stackwright.support.browser import TestEventBuffer, find_chromium, managed_chromium_path
from stackwright.support.errors import BrowserNotFound
from stackwright.support.processes import Stack

from .common import (
    Figure,
    bench_facts,
    busy_seconds,
    median,
    percentile,
    run_steps,
    suite_config,
)

SSE_EVENTS = 200
WARM_LOADS = 10

# Records when each progress text first shows, in the page's wall clock (ms).
OBSERVER = """
() => {
  window.__seen = {};
  const target = document.querySelector('[data-testid="parts.ai.dialog"]');
  new MutationObserver(() => {
    const el = document.querySelector('[data-testid="parts.ai.progress.message"]');
    if (el && !(el.textContent in window.__seen)) {
      window.__seen[el.textContent] = performance.timeOrigin + performance.now();
    }
  }).observe(target, {subtree: true, childList: true, characterData: true});
}
"""


def launch(playwright: Any) -> Browser:
    choice = find_chromium(managed_path=managed_chromium_path(), headless=True)
    if isinstance(choice, list):
        raise BrowserNotFound(choice)
    return playwright.chromium.launch(executable_path=choice.executable, args=list(choice.args))


def _load_parts(browser: Browser, base_url: str) -> float:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    started = time.perf_counter()
    page.goto("/parts")
    page.get_by_test_id("parts.list.item").first.wait_for()
    elapsed = time.perf_counter() - started
    context.close()
    return elapsed


def run() -> list[Figure]:
    config = suite_config()
    run_steps(config)  # the template and frontend build, from the cache
    facts = bench_facts()
    with Stack(config, facts, worker="bench-browser") as stack, sync_playwright() as playwright:
        browser = launch(playwright)
        cold = _load_parts(browser, stack.url("frontend"))
        cpu, started = busy_seconds(), time.perf_counter()
        warm = [_load_parts(browser, stack.url("frontend")) for _ in range(WARM_LOADS)]
        cores = (busy_seconds() - cpu) / (time.perf_counter() - started)
        context = browser.new_context(base_url=stack.url("frontend"))
        events = TestEventBuffer().attach(context)
        page = context.new_page()
        latencies = _sse_latencies(page, stack.url("backend"), events)
        context.close()
        browser.close()
    return [
        Figure(
            "browser",
            "first page load after the stack is ready (cold)",
            cold * 1000,
            "ms",
            note="navigation to /parts until the list is rendered",
        ),
        Figure(
            "browser",
            f"page load, warm (median of {WARM_LOADS}, new context each)",
            median(warm) * 1000,
            "ms",
        ),
        Figure(
            "browser",
            "cores kept busy by those loads, one after the other",
            cores,
            "cores",
            note="new context, page load, close: Chromium's processes, the Playwright "
            "driver, Python and the stack work at once",
        ),
        Figure(
            "browser",
            f"SSE delivery, backend POST to dialog text, p50 of {SSE_EVENTS}",
            percentile(latencies, 50) * 1000,
            "ms",
        ),
        Figure(
            "browser",
            f"SSE delivery, backend POST to dialog text, p99 of {SSE_EVENTS}",
            percentile(latencies, 99) * 1000,
            "ms",
        ),
    ]


def _sse_latencies(page: Page, backend_url: str, events: TestEventBuffer) -> list[float]:
    page.goto("/parts")
    page.wait_for_function(
        "() => window.__sseControls && window.__sseControls.getStatus() === 'open'"
    )
    request_id = page.evaluate("() => window.__sseControls.getRequestId()")
    page.get_by_test_id("parts.ai.open").click()
    page.get_by_test_id("parts.ai.input").fill("benchmark part")
    page.get_by_test_id("parts.ai.input.submit").click()
    subscribed = events.wait_for("sse", streamId="task", phase="open", event="task_subscription")
    task_id = subscribed["data"]["taskId"]
    page.evaluate("() => { window.__aiStallTimeoutMs = 600000 }")
    page.evaluate(OBSERVER)
    session = requests.Session()
    sent: dict[str, float] = {}
    for i in range(SSE_EVENTS):
        text = f"bench step {i}"
        body = {
            "request_id": request_id,
            "task_id": task_id,
            "event_type": "progress_update",
            "data": {"text": text, "value": i / SSE_EVENTS},
        }
        sent[text] = time.time() * 1000
        session.post(
            f"{backend_url}/api/testing/sse/task-event", json=body, timeout=5
        ).raise_for_status()
        page.wait_for_function("t => t in window.__seen", arg=text, polling=1)
    seen = page.evaluate("() => window.__seen")
    session.close()
    return [(seen[text] - at) / 1000 for text, at in sent.items()]

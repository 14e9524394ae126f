"""Smoke: the worker's stack is up and the frontend talks to the backend and the gateway."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from stackwright.support.browser import TestEventBuffer

from .helpers.sse import SseHelper


def test_backend_is_healthy_through_the_frontend_proxy(page: Page) -> None:
    response = page.request.get("/api/health/readyz")
    assert response.status == 200
    assert response.json()["status"] == "ready"


def test_parts_list_renders_the_seeded_parts(page: Page, test_events: TestEventBuffer) -> None:
    page.goto("/parts")
    loaded = test_events.wait_for("list_loading", scope="parts.list", phase="ready")
    assert loaded["metadata"]["totalCount"] >= 20
    expect(page.get_by_test_id("parts.list.item")).to_have_count(loaded["metadata"]["totalCount"])
    expect(page.get_by_test_id("parts.list.item").filter(has_text="SRD-05VDC-SL-C")).to_be_visible()


def test_sse_indicator_reaches_open(page: Page, sse: SseHelper) -> None:
    page.goto("/parts")
    request_id = sse.wait_connected()
    assert request_id
    expect(page.get_by_test_id("app.sse.status")).to_have_attribute("data-state", "open")


def test_reduced_motion_and_no_animations_on_every_navigation(page: Page) -> None:
    for path in ("/", "/parts"):
        page.goto(path)  # a full load each time: the init script must run again
        assert page.evaluate("matchMedia('(prefers-reduced-motion: reduce)').matches")
        expect(page.locator("style#__harness_no_animations")).to_have_count(1)
        duration = page.evaluate("getComputedStyle(document.body).transitionDuration")
        assert duration == "0s"

"""The SSE path: the gateway's callbacks reach the backend; rejections reach the page."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, Route, expect

from stackwright.support.browser import TestEventBuffer

from .helpers.api import ApiClient
from .helpers.sse import SseHelper


def test_connect_callback_registers_the_request_id(
    page: Page, sse: SseHelper, api: ApiClient
) -> None:
    page.goto("/parts")
    request_id = sse.wait_connected()
    assert request_id in api.connections()


def test_closing_the_page_sends_the_disconnect_callback(
    context: BrowserContext, api: ApiClient, test_events: TestEventBuffer
) -> None:
    page = context.new_page()
    page.goto("/parts")
    opened = test_events.wait_for("sse", streamId="main", phase="open")
    request_id = opened["data"]["requestId"]
    assert request_id in api.connections()
    page.close()
    api.wait_until(
        "the disconnect callback drops the request_id", lambda: request_id not in api.connections()
    )


def test_a_rejected_connect_shows_the_closed_indicator(
    page: Page, test_events: TestEventBuffer, api: ApiClient
) -> None:
    def break_request_id(route: Route) -> None:
        # A request_id the backend refuses (spaces are not allowed): the callback answers 400.
        route.continue_(url=route.request.url.replace("request_id=", "request_id=not%20valid&was="))

    page.route("**/sse/stream*", break_request_id)
    page.goto("/parts")
    rejected = test_events.wait_for("sse", streamId="main", phase="error", event="rejected")
    assert rejected["data"]["status"] == 400
    expect(page.get_by_test_id("app.sse.status")).to_have_attribute("data-state", "closed")
    assert all(" " not in request_id for request_id in api.connections())

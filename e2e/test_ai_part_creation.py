"""AI-assisted part creation over SSE: backend -> gateway -> page, driven step by step."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from stackwright.support.browser import ExpectConsoleError, TestEventBuffer

from .helpers.ai_analysis import AiAnalysis
from .helpers.api import ApiClient, unique
from .helpers.sse import SseHelper
from .pages import AiDialog, PartsListPage


def _open_dialog(page: Page, test_events: TestEventBuffer, sse: SseHelper) -> AiDialog:
    parts = PartsListPage(page, test_events)
    parts.open()
    sse.wait_connected()
    return parts.open_ai_dialog()


def test_full_flow_with_the_scripted_analyser(
    page: Page,
    test_events: TestEventBuffer,
    sse: SseHelper,
    ai_analysis: AiAnalysis,
    api: ApiClient,
) -> None:
    dialog = _open_dialog(page, test_events, sse)
    expect(dialog.root).to_have_attribute("data-step", "input")
    dialog.describe("AMS1117 3.3V regulator in SOT-223")
    ai_analysis.wait_for_task()
    ai_analysis.started()
    expect(dialog.root).to_have_attribute("data-step", "progress")
    ai_analysis.progress("Reading the datasheet", 0.4)
    expect(dialog.progress_message).to_have_text("Reading the datasheet")
    expect(dialog.progress_bar).to_have_js_property("value", 0.4)
    code = unique("AMS1117-3.3").replace(" ", "-")
    ai_analysis.completed({"manufacturer_code": code, "tags": ["ldo", "e2e"]})
    expect(dialog.review).to_be_visible()
    expect(dialog.review_field("Description")).to_have_value("3.3V 1A low dropout linear regulator")
    expect(dialog.review_field("Manufacturer Code")).to_have_value(code)
    expect(dialog.review_field("Package")).to_have_value("SOT-223")
    expect(dialog.review_field("Tags")).to_have_value("ldo, e2e")
    expect(dialog.type_picker.locator("option:checked")).to_have_text("Voltage regulator")
    expect(dialog.warning).to_have_count(0)
    dialog.edit("Description", "LDO for the sensor board")
    dialog.create()
    expect(page).to_have_url(re.compile(r"/parts/[A-Z]{4}$"))
    key = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("parts.detail")).to_contain_text("LDO for the sensor board")
    created = api.part(key)
    assert created is not None
    assert created["description"] == "LDO for the sensor board"
    assert created["manufacturer_code"] == code
    assert created["type"] == "Voltage regulator"
    assert created["tags"] == ["e2e", "ldo"]


def test_failure_reason_without_result_shows_error_with_retry_and_cancel(
    page: Page, test_events: TestEventBuffer, sse: SseHelper, ai_analysis: AiAnalysis
) -> None:
    dialog = _open_dialog(page, test_events, sse)
    dialog.describe("a blue thing from the drawer")
    ai_analysis.started()
    ai_analysis.completed(None, failure_reason="Not enough detail to identify the part")
    expect(dialog.root).to_have_attribute("data-step", "error")
    expect(dialog.progress).to_have_attribute("data-state", "error")
    expect(dialog.error_message).to_have_text("Not enough detail to identify the part")
    dialog.retry()
    expect(dialog.root).to_have_attribute("data-step", "input")
    expect(dialog.input).to_have_value("a blue thing from the drawer")
    dialog.cancel()
    expect(dialog.root).to_be_hidden()


def test_result_with_failure_reason_warns_and_still_creates(
    page: Page,
    test_events: TestEventBuffer,
    sse: SseHelper,
    ai_analysis: AiAnalysis,
    api: ApiClient,
) -> None:
    dialog = _open_dialog(page, test_events, sse)
    dialog.describe("some regulator, maybe AMS1117")
    ai_analysis.started()
    code = unique("AMS-WARN").replace(" ", "-")
    ai_analysis.completed(
        {"manufacturer_code": code}, failure_reason="The package could not be confirmed"
    )
    expect(dialog.warning).to_have_text("The package could not be confirmed")
    dialog.create()
    expect(page).to_have_url(re.compile(r"/parts/[A-Z]{4}$"))
    assert api.parts(code)[0]["manufacturer_code"] == code


def test_task_failed_shows_the_error(
    page: Page, test_events: TestEventBuffer, sse: SseHelper, ai_analysis: AiAnalysis
) -> None:
    dialog = _open_dialog(page, test_events, sse)
    dialog.describe("ESP32 module")
    ai_analysis.started()
    ai_analysis.progress("Searching", 0.2)
    ai_analysis.failed("The analyser is over capacity")
    expect(dialog.root).to_have_attribute("data-step", "error")
    expect(dialog.error_message).to_have_text("The analyser is over capacity")


def test_unsuccessful_completion_shows_the_error_message(
    page: Page, test_events: TestEventBuffer, sse: SseHelper, ai_analysis: AiAnalysis
) -> None:
    dialog = _open_dialog(page, test_events, sse)
    dialog.describe("ESP32 module")
    ai_analysis.completed(None, success=False, error_message="Quota exhausted")
    expect(dialog.error_message).to_have_text("Quota exhausted")


def test_catalog_analyser_end_to_end(
    page: Page, test_events: TestEventBuffer, sse: SseHelper, api: ApiClient, catalog_provider: None
) -> None:
    api.call(
        "DELETE", "/api/parts/VREG", expect=(204, 404)
    )  # the seeded AMS1117 would be a duplicate
    dialog = _open_dialog(page, test_events, sse)
    dialog.describe("need a few AMS1117 LDOs for 3v3")
    updates = [sse.wait_event("task_event", event_type="progress_update") for _ in range(3)]
    assert [u["data"]["data"]["value"] for u in updates] == sorted(
        u["data"]["data"]["value"] for u in updates
    )
    expect(dialog.review).to_be_visible()
    expect(dialog.review_field("Manufacturer Code")).to_have_value("AMS1117-3.3")
    expect(dialog.review_field("Pin Count")).to_have_value("4")
    dialog.create()
    expect(page.get_by_test_id("parts.detail")).to_contain_text("AMS1117-3.3")


def test_progress_after_a_reconnect_still_reaches_the_dialog(
    page: Page,
    test_events: TestEventBuffer,
    sse: SseHelper,
    ai_analysis: AiAnalysis,
    api: ApiClient,
) -> None:
    dialog = _open_dialog(page, test_events, sse)
    dialog.describe("RP2040")
    ai_analysis.started()
    request_id = sse.request_id()
    sse.disconnect()
    expect(page.get_by_test_id("app.sse.status")).to_have_attribute("data-state", "closed")
    expect(dialog.connection_hint).to_have_text("Live connection lost; reconnecting…")
    api.wait_until(
        "the backend drops the closed stream", lambda: request_id not in api.connections()
    )
    sse.reconnect()
    assert sse.wait_connected() == request_id  # same request_id: the task still reaches this page
    expect(dialog.connection_hint).to_be_hidden()
    ai_analysis.progress("Back after the reconnect", 0.7)
    expect(dialog.progress_message).to_have_text("Back after the reconnect")
    ai_analysis.completed()
    expect(dialog.review).to_be_visible()


def test_dialog_says_so_when_the_analysis_stalls(
    page: Page, test_events: TestEventBuffer, sse: SseHelper, ai_analysis: AiAnalysis
) -> None:
    page.add_init_script("window.__aiStallTimeoutMs = 600")
    dialog = _open_dialog(page, test_events, sse)
    dialog.describe("a part nobody will analyse")
    ai_analysis.wait_for_task()
    expect(dialog.error_message).to_contain_text("No news from the analysis")
    dialog.retry()
    expect(dialog.input).to_have_value("a part nobody will analyse")


def test_submitting_without_a_live_stream_explains_the_problem(
    page: Page,
    test_events: TestEventBuffer,
    sse: SseHelper,
    api: ApiClient,
    expect_console_error: ExpectConsoleError,
) -> None:
    dialog = _open_dialog(page, test_events, sse)
    request_id = sse.request_id()
    sse.disconnect()
    api.wait_until(
        "the backend drops the closed stream", lambda: request_id not in api.connections()
    )
    expect_console_error(r"409 \(CONFLICT\)")
    dialog.describe("LM7805")
    expect(dialog.error_message).to_contain_text("live connection to the server is not open")

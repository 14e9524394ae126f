"""Parts: list, search, detail, delete with confirm, unknown keys, the error state."""

from __future__ import annotations

import re

from playwright.sync_api import Page, Route, expect

from stackwright.support.browser import ExpectConsoleError, TestEventBuffer

from .helpers.api import ApiClient, TestData, unique
from .pages import PartDetailPage, PartsListPage


def test_list_shows_every_part_of_the_backend(
    page: Page, test_events: TestEventBuffer, api: ApiClient
) -> None:
    parts = PartsListPage(page, test_events)
    count = parts.open()
    expected = sorted(part["key"] for part in api.parts())
    assert count == len(expected)
    assert parts.keys() == expected


def test_search_filters_as_you_type(
    page: Page, test_events: TestEventBuffer, test_data: TestData
) -> None:
    token = unique("Zq").replace(" ", "")
    mine = [test_data.parts.create(description_prefix=f"{token} capacitor") for _ in range(2)]
    test_data.parts.create(description_prefix="Unrelated resistor")
    parts = PartsListPage(page, test_events)
    parts.open()
    parts.search(token.lower())
    expect(parts.items).to_have_count(2)
    assert sorted(parts.keys()) == sorted(p["key"] for p in mine)
    parts.search(f"{token} nothing-like-this")
    expect(parts.empty).to_contain_text("No part matches")
    parts.search("")
    expect(parts.items).not_to_have_count(0)


def test_detail_shows_every_field(
    page: Page, test_events: TestEventBuffer, test_data: TestData
) -> None:
    part_type = test_data.types.create(name_prefix="Sensor family")
    part = test_data.parts.create(
        description_prefix="Detail sensor",
        type_id=part_type["id"],
        manufacturer="Bosch",
        manufacturer_code=unique("BME").replace(" ", "-"),
        package="LGA-8",
        pin_count=8,
        voltage_rating="3.6V",
        tags=["i2c", "env"],
    )
    parts = PartsListPage(page, test_events)
    parts.open()
    detail = parts.open_part(part["key"])
    assert detail.key() == part["key"]
    expect(detail.root).to_contain_text(part["description"])
    expect(detail.field("type")).to_have_text(part_type["name"])
    expect(detail.field("manufacturer_code")).to_have_text(part["manufacturer_code"])
    expect(detail.field("pin_count")).to_have_text("8")
    expect(detail.field("voltage_rating")).to_have_text("3.6V")
    expect(detail.field("series")).to_have_text("—")
    assert detail.tags() == ["env", "i2c"]


def test_delete_asks_for_confirmation(page: Page, test_data: TestData, api: ApiClient) -> None:
    part = test_data.parts.create(description_prefix="Doomed part")
    detail = PartDetailPage(page).open(part["key"])
    detail.ask_to_delete()
    detail.keep()
    assert api.part(part["key"]) is not None
    detail.ask_to_delete()
    detail.confirm_delete()
    expect(page).to_have_url(re.compile(r"/parts$"))
    assert api.part(part["key"]) is None


def test_unknown_key_shows_not_found(
    page: Page, test_data: TestData, api: ApiClient, expect_console_error: ExpectConsoleError
) -> None:
    expect_console_error(r"status of 404")
    gone = test_data.parts.create(description_prefix="Short-lived")
    api.call("DELETE", f"/api/parts/{gone['key']}")
    detail = PartDetailPage(page).open(gone["key"])
    expect(detail.not_found).to_contain_text(f"There is no part with key {gone['key']}")


def test_list_error_state_and_retry(
    page: Page, test_events: TestEventBuffer, expect_console_error: ExpectConsoleError
) -> None:
    expect_console_error(r"Failed to load resource")

    def backend_down(route: Route) -> None:
        route.fulfill(status=502, content_type="application/json", body='{"error": "backend down"}')

    page.route("**/api/parts", backend_down)
    parts = PartsListPage(page, test_events)
    page.goto("/parts")
    test_events.wait_for("list_loading", scope="parts.list", phase="error")
    expect(parts.error).to_contain_text("Could not load the parts: backend down")
    page.unroute("**/api/parts", backend_down)
    parts.retry()
    assert parts.wait_loaded() > 0
    expect(parts.items.first).to_be_visible()

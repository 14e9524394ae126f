"""The parts list (``/parts``)."""

from __future__ import annotations

from playwright.sync_api import Locator, Page

from stackwright.support.browser import TestEventBuffer

from .ai_dialog import AiDialog
from .part_detail import PartDetailPage


class PartsListPage:
    def __init__(self, page: Page, events: TestEventBuffer) -> None:
        self.page = page
        self.events = events
        self.items: Locator = page.get_by_test_id("parts.list.item")
        self.search_box = page.get_by_test_id("parts.list.search")
        self.empty = page.get_by_test_id("parts.list.empty")
        self.error = page.get_by_test_id("parts.list.error")

    def open(self) -> int:
        """Go to the list and wait until it has loaded; return the number of parts."""
        self.page.goto("/parts")
        return self.wait_loaded()

    def wait_loaded(self) -> int:
        event = self.events.wait_for("list_loading", scope="parts.list", phase="ready")
        return int(event["metadata"]["totalCount"])

    def search(self, text: str) -> None:
        self.search_box.fill(text)

    def keys(self) -> list[str]:
        return [key for key in self.items.evaluate_all("rows => rows.map(r => r.dataset.key)")]

    def row(self, key: str) -> Locator:
        return self.page.locator(f'[data-testid="parts.list.item"][data-key="{key}"]')

    def open_part(self, key: str) -> PartDetailPage:
        self.row(key).get_by_role("link", name=key).click()
        detail = PartDetailPage(self.page)
        detail.root.wait_for()
        return detail

    def retry(self) -> None:
        self.page.get_by_test_id("parts.list.retry").click()

    def open_ai_dialog(self) -> AiDialog:
        self.page.get_by_test_id("parts.ai.open").click()
        dialog = AiDialog(self.page)
        dialog.root.wait_for()
        return dialog

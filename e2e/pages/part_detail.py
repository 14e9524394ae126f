"""A part's page (``/parts/<key>``)."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


class PartDetailPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.root: Locator = page.get_by_test_id("parts.detail")
        self.not_found = page.get_by_test_id("parts.detail.not-found")

    def open(self, key: str) -> PartDetailPage:
        self.page.goto(f"/parts/{key}")
        return self

    def key(self) -> str:
        return self.page.get_by_test_id("parts.detail.key").inner_text()

    def field(self, name: str) -> Locator:
        """The value cell of a field, by its column name (``manufacturer_code``)."""
        return self.root.locator(f'dd[data-field="{name}"]')

    def tags(self) -> list[str]:
        return self.page.get_by_test_id("parts.detail.tags").locator(".tag").all_inner_texts()

    def ask_to_delete(self) -> None:
        self.page.get_by_test_id("parts.detail.delete").click()

    def confirm_delete(self) -> None:
        self.page.get_by_test_id("parts.detail.delete.confirm").click()

    def keep(self) -> None:
        self.page.get_by_test_id("parts.detail.delete.cancel").click()

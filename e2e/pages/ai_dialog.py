"""The "Add part with AI" dialog: input -> progress -> review, or error."""

from __future__ import annotations

from playwright.sync_api import Locator, Page


class AiDialog:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.root: Locator = page.get_by_test_id("parts.ai.dialog")
        self.input = page.get_by_test_id("parts.ai.input")
        self.progress = page.get_by_test_id("parts.ai.progress")
        self.progress_message = page.get_by_test_id("parts.ai.progress.message")
        self.progress_bar = page.get_by_test_id("parts.ai.progress.bar")
        self.connection_hint = page.get_by_test_id("parts.ai.progress.connection")
        self.error_message = page.get_by_test_id("parts.ai.error.message")
        self.review = page.get_by_test_id("parts.ai.review")
        self.warning = page.get_by_test_id("parts.ai.review.warning")
        self.type_picker = page.get_by_test_id("parts.ai.review.type")

    def step(self) -> str | None:
        return self.root.get_attribute("data-step")

    def describe(self, text: str) -> None:
        """Type a description and submit it for analysis."""
        self.input.fill(text)
        self.page.get_by_test_id("parts.ai.input.submit").click()

    def review_field(self, label: str) -> Locator:
        return self.review.get_by_label(label, exact=True)

    def edit(self, label: str, value: str) -> None:
        self.review_field(label).fill(value)

    def create(self) -> None:
        self.page.get_by_test_id("parts.ai.review.submit").click()

    def retry(self) -> None:
        self.page.get_by_test_id("parts.ai.retry").click()

    def cancel(self) -> None:
        self.page.get_by_test_id("parts.ai.cancel").click()

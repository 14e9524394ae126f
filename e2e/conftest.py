"""Fixtures of the browser suite: API client, test data, the AI analysis driver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from stackwright.support.browser import TestEventBuffer

from .helpers.ai_analysis import AiAnalysis
from .helpers.api import ApiClient, TestData
from .helpers.sse import SseHelper

pytest_plugins = ["pytester"]


@pytest.fixture
def api(backend_url: str) -> Iterator[ApiClient]:
    """A requests-based client of this worker's backend."""
    client = ApiClient(backend_url)
    yield client
    client.close()


@pytest.fixture
def test_data(api: ApiClient) -> TestData:
    """Factories for part types and parts with unique names: test_data.parts.create(...)."""
    return TestData(api)


@pytest.fixture
def sse(page: Page, test_events: TestEventBuffer) -> SseHelper:
    """The page's SSE stream: wait_connected, request_id, disconnect, reconnect, wait_event."""
    return SseHelper(page, test_events)


@pytest.fixture
def ai_analysis(api: ApiClient, test_events: TestEventBuffer, sse: SseHelper) -> AiAnalysis:
    """Drives the open dialog's analysis task: started(), progress(), completed(), failed()."""
    return AiAnalysis(api, test_events, sse)


@pytest.fixture
def catalog_provider(api: ApiClient) -> Iterator[None]:
    """Switch this worker's backend to the real offline analyser for one test."""
    api.set_ai_provider("catalog")
    yield
    api.set_ai_provider("scripted")

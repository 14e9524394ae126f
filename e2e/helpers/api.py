"""A small client of the worker's backend, for arranging and checking test data."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import requests


class ApiError(AssertionError):
    """The backend answered an arranging call with an unexpected status."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status}: {body[:500]}")
        self.status = status


class ApiClient:
    """JSON calls against one backend; every non-2xx raises ApiError with the body."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        expect: tuple[int, ...] = (200, 201, 202, 204),
    ) -> Any:
        url = f"{self.base_url}{path}"
        response = self.session.request(method, url, json=json, timeout=10)
        if response.status_code not in expect:
            raise ApiError(method, url, response.status_code, response.text)
        return response.json() if response.content else None

    def part(self, key: str) -> dict[str, Any] | None:
        """The part with ``key``, or None when there is none."""
        try:
            result: dict[str, Any] = self.call("GET", f"/api/parts/{key}")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return result

    def parts(self, query: str = "") -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call(
            "GET", f"/api/parts?q={query}" if query else "/api/parts"
        )
        return result

    def types(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/api/types")
        return result

    def connections(self) -> dict[str, str]:
        result: dict[str, str] = self.call("GET", "/api/testing/sse/connections")
        return result

    def set_ai_provider(self, provider: str) -> None:
        self.call("PUT", "/api/testing/ai-provider", {"provider": provider})

    def send_task_event(self, request_id: str, task_id: str, event_type: str, data: Any) -> Any:
        body = {
            "request_id": request_id,
            "task_id": task_id,
            "event_type": event_type,
            "data": data,
        }
        return self.call("POST", "/api/testing/sse/task-event", body, expect=(200, 404))

    def wait_until(self, what: str, check: Callable[[], bool], *, timeout: float = 10.0) -> None:
        """Poll the backend's state until ``check()`` holds (for effects with no browser event)."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
            time.sleep(0.05)

    def close(self) -> None:
        self.session.close()


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


class TypeFactory:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def create(self, name_prefix: str = "E2E type") -> dict[str, Any]:
        created: dict[str, Any] = self.api.call("POST", "/api/types", {"name": unique(name_prefix)})
        return created


class PartFactory:
    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def create(self, description_prefix: str = "E2E part", **fields: Any) -> dict[str, Any]:
        """A part with a unique description; ``fields`` override any column (and ``tags``)."""
        body: Mapping[str, Any] = {"description": unique(description_prefix), **fields}
        created: dict[str, Any] = self.api.call("POST", "/api/parts", body)
        return created


class TestData:
    """Factories that give every test its own, uniquely named data."""

    __test__ = False

    def __init__(self, api: ApiClient) -> None:
        self.types = TypeFactory(api)
        self.parts = PartFactory(api)

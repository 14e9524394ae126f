"""Fake-service configurations for the harness's tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from support.config import HarnessConfig, ServiceSpec
from support.ports import choose_run_base

FAKE = Path(__file__).with_name("fake_service.py")


def fake_spec(
    name: str, mode: str = "ready", *, timeout: float = 10.0, command: str | None = None
) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        command=command or f"{{python}} {FAKE} --port {{port}} --mode {mode}",
        env=(("FAKE_NAME", name), ("FAKE_URLS", "{backend_url} {gateway_url} {frontend_url}")),
        ready_path="/ready",
        timeout=timeout,
    )


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., HarnessConfig]:
    def make(**modes: str | ServiceSpec) -> HarnessConfig:
        specs = []
        for name in ("backend", "gateway", "frontend"):
            value = modes.get(name, "ready")
            specs.append(value if isinstance(value, ServiceSpec) else fake_spec(name, value))
        return HarnessConfig(
            root=str(tmp_path),
            output_dir=str(tmp_path / "out"),
            services=tuple(specs),
            port_base=choose_run_base(64, 20),
        )

    return make

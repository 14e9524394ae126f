"""The gateway's staged aiohttp import: server first, client at the first callback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, re, sys
from app.gateway import loader
if "{mode}" == "broken":
    loader._VERSION = re.compile("never matches")
loader.import_server(tls={tls})
from aiohttp import web
before = {{
    "client": "aiohttp.client" in sys.modules,
    "ssl": sys.modules.get("ssl") is not None,
    "web": hasattr(web, "Application"),
}}
loader.complete()
import aiohttp
from importlib.metadata import version
after = {{
    "session": hasattr(aiohttp, "ClientSession"),
    "version": aiohttp.__version__ == version("aiohttp"),
}}
print(json.dumps({{"before": before, "after": after}}))
"""


def _probe(*, tls: bool, mode: str = "ok") -> dict[str, dict[str, bool]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(tls=tls, mode=mode)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def test_server_loads_without_the_client_or_ssl_then_completes() -> None:
    probe = _probe(tls=False)
    assert probe["before"] == {"client": False, "ssl": False, "web": True}
    assert probe["after"] == {"session": True, "version": True}


def test_an_https_callback_keeps_ssl() -> None:
    assert _probe(tls=True)["before"]["ssl"] is True


@pytest.mark.parametrize("tls", [False, True])
def test_a_layout_it_does_not_expect_falls_back_to_the_ordinary_import(tls: bool) -> None:
    probe = _probe(tls=tls, mode="broken")
    assert probe["before"]["client"] is True  # imported whole
    assert probe["after"] == {"session": True, "version": True}

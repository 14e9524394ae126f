"""Browsers from a Playwright browser server: what is sent, and a server that cannot
serve the run (unreachable, another version) failing it at once with what to do.
The passing path, with a real ``playwright run-server``, is in e2e/test_harness.py."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwright.support.browser.remote import (
    client_version,
    connect_options,
    explain,
    remote_launch_args,
)

from .test_plugin import _ini

pytest_plugins = ["pytester"]

FAKE_SERVER = Path(__file__).with_name("fake_browser_server.py")
SMOKE = """
def test_page(page):
    page.goto("/ready")
"""


def test_local_launch_options_are_not_sent_and_the_network_is_exposed() -> None:
    args = {"executable_path": "/usr/bin/chromium", "headless": True, "args": ["--x"]}
    assert remote_launch_args(args) == {"headless": True, "args": ["--x"]}
    assert connect_options("ws://b:3000/") == {
        "endpoint": "ws://b:3000/",
        "expose_network": "<loopback>",
    }


def test_the_message_fits_the_failure_seen() -> None:
    refused = explain("ws://h:1/", "BrowserType.connect: WebSocket error: connect ECONNREFUSED")
    assert refused.startswith("cannot reach the Playwright browser server at ws://h:1/")
    assert "playwright run-server" in refused
    other = explain("ws://h:1/", "BrowserType.connect: 400 Bad Request")
    assert "refused the connection: BrowserType.connect: 400 Bad Request" in other
    # A port holding '428' is not the 428 a server of another version answers.
    port = explain("ws://h:42837/", "connect ECONNREFUSED 127.0.0.1:42837")
    assert port.startswith("cannot reach the Playwright browser server at ws://h:42837/")
    version = explain("ws://h:1/", "BrowserType.connect: 428 Precondition Required")
    assert "runs another Playwright version, and this run's client is" in version


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".ini", pytest=_ini() + "page_url = {frontend_url}\n")
    pytester.makepyfile(test_smoke=SMOKE)
    return pytester


def _no_stack_started(project: pytest.Pytester) -> None:
    assert not list((project.path / "test-results").glob(".services/*/*.log"))


def test_an_unreachable_server_fails_the_run_at_once(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on once this closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"ws://127.0.0.1:{port}/"
    monkeypatch.setenv("PW_TEST_CONNECT_WS_ENDPOINT", endpoint)
    result = project.runpytest_subprocess("-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: cannot reach the Playwright browser server at {endpoint} (*ECONNREFUSED*"]
    )
    _no_stack_started(project)


@pytest.fixture
def old_server() -> Iterator[str]:
    """A browser server of Playwright 1.40 (a tiny stand-in answering as one does)."""
    server = subprocess.Popen(
        [sys.executable, str(FAKE_SERVER), "0", "1.40"], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    line = server.stdout.readline()  # "Listening on ws://...": it serves from here on
    try:
        yield line.split()[-1]
    finally:
        server.kill()
        server.communicate()


def test_a_server_of_another_version_fails_the_run_naming_both(
    project: pytest.Pytester, old_server: str
) -> None:
    result = project.runpytest_subprocess("-n", "2", "--connect-ws-endpoint", old_server)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    mine = client_version()
    result.stderr.fnmatch_lines(
        [
            f"ERROR: the Playwright browser server at {old_server} runs Playwright 1.40, and "
            f"this run's client is Playwright {mine}: their major.minor versions must match.",
            f"Try: run the server of this version (npx playwright@{mine} run-server*"
            "pip install 'playwright==1.40.*')*",
        ]
    )
    _no_stack_started(project)

"""Browsers from a Playwright browser server (``playwright run-server``).

Checked once, in the controller, before any stack starts: an unreachable server or
one of another Playwright version fails the run at once, naming both versions and
what to do, instead of failing every test of every worker.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from stackwright.support.errors import RemoteBrowserError

#: Launch options that name this machine's files: never sent to a remote server.
LOCAL_ONLY = ("executable_path", "downloads_path", "traces_dir")
#: The remote browser reaches the worker's stack on this machine's loopback.
EXPOSE_NETWORK = "<loopback>"
CHECK_TIMEOUT_MS = 15_000


def client_version() -> str:
    try:
        return version("playwright")
    except PackageNotFoundError:
        return "unknown"


def connect_options(endpoint: str) -> dict[str, Any]:
    """pytest-playwright's ``connect_options`` for ``endpoint``."""
    return {"endpoint": endpoint, "expose_network": EXPOSE_NETWORK}


def remote_launch_args(args: dict[str, Any]) -> dict[str, Any]:
    """The launch options worth sending to a server: those not about this machine."""
    return {key: value for key, value in args.items() if key not in LOCAL_ONLY}


def check_server(endpoint: str, browser_name: str = "chromium") -> str:
    """Connect once; the server's browser version, or RemoteBrowserError."""
    from playwright.sync_api import Error, sync_playwright

    try:
        with sync_playwright() as playwright:
            browser_type = getattr(playwright, browser_name)
            browser = browser_type.connect(**connect_options(endpoint), timeout=CHECK_TIMEOUT_MS)
            try:
                return str(browser.version)
            finally:
                browser.close()
    except Error as exc:
        raise RemoteBrowserError(explain(endpoint, str(exc))) from None


def explain(endpoint: str, error: str) -> str:
    """The message for a failed connection, fitted to the failure actually seen."""
    mine = client_version()
    mismatch = re.search(r"server version: v?([\d.]+).*?client version: v?([\d.]+)", error, re.S)
    # HTTP 428 is how a server of another version refuses; not any '428' (a port 42837).
    if mismatch or re.search(r"(?<![:\d])428(?!\d)", error):
        server = f"Playwright {mismatch.group(1)}" if mismatch else "another Playwright version"
        install = f"pip install 'playwright=={mismatch.group(1)}.*'" if mismatch else "pip"
        return (
            f"the Playwright browser server at {endpoint} runs {server}, and this "
            f"run's client is Playwright {mine}: their major.minor versions must match.\n"
            f"Try: run the server of this version (npx playwright@{mine} run-server, or "
            f"'playwright run-server' from this .venv), or install the client of the "
            f"server's version here ({install})."
        )
    first = next((line.strip() for line in error.splitlines() if line.strip()), error)
    if re.search(r"ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|Timeout|timed out", error):
        return (
            f"cannot reach the Playwright browser server at {endpoint} ({first}).\n"
            "Try: start it (playwright run-server --port 3000, or the "
            f"mcr.microsoft.com/playwright:v{mine} image), check the address and port, or "
            "unset PW_TEST_CONNECT_WS_ENDPOINT to launch a local browser."
        )
    return (
        f"the Playwright browser server at {endpoint} refused the connection: {first}\n"
        "Try: check that it is a Playwright browser server (playwright run-server) of "
        f"version {mine}, or unset PW_TEST_CONNECT_WS_ENDPOINT to launch a local browser."
    )

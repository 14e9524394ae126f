"""Finding a Chromium, and the launch arguments it needs here."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Chromium's headless shell: no browser UI to render, about 40% less time per
#: test than the full browser in headless mode. Headless runs only.
HEADLESS_SHELL = "chromium-headless-shell"
SYSTEM_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--no-first-run",
    "--disable-sync",
)


@dataclass(frozen=True)
class BrowserChoice:
    """Where Chromium comes from: Playwright's own (executable None) or a path."""

    executable: str | None
    source: str
    args: tuple[str, ...] = field(default=())


def find_chromium(
    *,
    explicit: str | None = None,
    managed_path: str | None = None,
    is_root: bool | None = None,
    headless: bool = True,
) -> BrowserChoice | list[str]:
    """The Chromium to launch, or the list of places looked at when there is none.

    Order: PLAYWRIGHT_CHROMIUM_EXECUTABLE, Playwright's own build, then the
    system's (its headless shell first when running headless).
    """
    is_root = os.geteuid() == 0 if is_root is None else is_root
    if explicit:
        found = shutil.which(explicit) or explicit
        if Path(found).is_file():
            return BrowserChoice(found, "PLAYWRIGHT_CHROMIUM_EXECUTABLE", _args(is_root))
        return [f"PLAYWRIGHT_CHROMIUM_EXECUTABLE={explicit} (not found)"]
    looked = []
    if managed_path:
        if Path(managed_path).is_file():
            return BrowserChoice(None, "playwright", ("--no-sandbox",) if is_root else ())
        looked.append(f"{managed_path} (Playwright-managed, not installed)")
    for name in ((HEADLESS_SHELL,) if headless else ()) + SYSTEM_CANDIDATES:
        system = shutil.which(name)
        if system:
            return BrowserChoice(system, "system", _args(is_root))
        looked.append(f"{name} on PATH")
    return looked


def _args(is_root: bool) -> tuple[str, ...]:
    return (*SYSTEM_ARGS, "--no-sandbox") if is_root else SYSTEM_ARGS


def managed_chromium_path() -> str | None:
    """Where Playwright would look for its own Chromium (None if Playwright cannot tell)."""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            return playwright.chromium.executable_path
    except Exception:  # a broken driver install must not hide the system browser
        return None


def managed_revisions() -> dict[str, str]:
    """Playwright's revision of each download it manages (chromium, ffmpeg, ...), from its
    driver's browsers.json; empty if the driver does not say."""
    import playwright

    manifest = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    try:
        entries = json.loads(manifest.read_text())["browsers"]
        return {str(entry["name"]): str(entry["revision"]) for entry in entries}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


#: How a Chromium process that opens and closes a page's connections is started: the
#: network service (out of process, the default), else the browser process itself.
NETWORK_SERVICE = b"--utility-sub-type=network.mojom.NetworkService"


def network_processes(root: int | None = None) -> list[int]:
    """The pids of the Chromium processes under ``root`` (this process) that close a
    closed page's connections: its network services, or, when the network runs in the
    browser process, the browser processes. A test's end waits for them too (a page's
    connections close a moment after its context did). Empty for a remote browser."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: dict[str, list[int]] = {"network": [], "browser": []}
    todo = list(children.get(os.getpid() if root is None else root, []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:  # Chromium rewrites its title: its arguments may be one string
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        program = command.split(b" ", 1)[0].rsplit(b"/", 1)[-1]
        if NETWORK_SERVICE in command:
            found["network"].append(pid)
        elif b"chrom" in program and b" --type=" not in command:
            found["browser"].append(pid)
    return sorted(found["network"] or found["browser"])

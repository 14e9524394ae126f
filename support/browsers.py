"""Finding a Chromium, and the launch arguments it needs here."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
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
    *, explicit: str | None = None, managed_path: str | None = None, is_root: bool | None = None
) -> BrowserChoice | list[str]:
    """The Chromium to launch, or the list of places looked at when there is none."""
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
    for name in SYSTEM_CANDIDATES:
        system = shutil.which(name)
        if system:
            return BrowserChoice(system, "system", _args(is_root))
        looked.append(f"{name} on PATH")
    return looked


def _args(is_root: bool) -> tuple[str, ...]:
    return (*SYSTEM_ARGS, "--no-sandbox") if is_root else SYSTEM_ARGS

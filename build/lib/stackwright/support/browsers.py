"""Finding a Chromium, and the launch arguments it needs here."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BrowserNotFound

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


def ensure_chromium() -> int:
    """``python -m stackwright.support.browsers``: find a Chromium, or install one, or say
    what to run."""
    import subprocess
    import sys

    explicit = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE")
    choice = find_chromium(explicit=explicit, managed_path=managed_chromium_path())
    if isinstance(choice, BrowserChoice):
        print(f"browser: {choice.executable or 'Playwright-managed Chromium'} ({choice.source})")
        if choice.source == "system" and not shutil.which(HEADLESS_SHELL):
            _apt_install(HEADLESS_SHELL, why="for faster headless runs (optional)")
        _ensure_ffmpeg()
        return 0
    if explicit:
        print(f"error: PLAYWRIGHT_CHROMIUM_EXECUTABLE={explicit} does not exist", file=sys.stderr)
        return 1
    print("browser: none found; trying: python -m playwright install chromium")
    install = [sys.executable, "-m", "playwright", "install", "chromium"]
    if subprocess.run(install, check=False, capture_output=True).returncode == 0:
        return 0
    if _apt_install("chromium", why="Playwright's download failed") and shutil.which("chromium"):
        # Older Debian releases have no headless shell: chromium alone is enough.
        _apt_install(HEADLESS_SHELL, why="for faster headless runs (optional)")
        return 0
    print(str(BrowserNotFound(choice)), file=sys.stderr)
    return 1


def _ensure_ffmpeg() -> None:
    """Playwright's videos (a retry records one) need ffmpeg: link the system's, or
    install Debian's first."""
    from .video import provide_ffmpeg, video_problem

    if video_problem() and not shutil.which("ffmpeg"):
        _apt_install("ffmpeg", why="for videos of retried tests (optional)")
    print(provide_ffmpeg())


_apt_state = {"updated": False}


def _apt_install(package: str, *, why: str) -> bool:
    """apt-get install ``package`` when root on Debian; True when it worked."""
    import subprocess

    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print(f"browser: {why}; trying: apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [["apt-get", "install", "-y", "-qq", package]]
    if not _apt_state["updated"]:
        steps.insert(0, ["apt-get", "update", "-qq"])
    for step in steps:
        if subprocess.run(step, check=False, env=env).returncode != 0:
            print(f"browser: '{' '.join(step)}' failed; continuing without it")
            return False
    _apt_state["updated"] = True
    return True


if __name__ == "__main__":
    raise SystemExit(ensure_chromium())

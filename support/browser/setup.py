"""``python -m stackwright.support.browser.setup`` (``make setup``): find a Chromium, or
install one (Playwright's download, else Debian's package when root), and ffmpeg for
the videos of retried tests; or say what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from stackwright.support.browser.chromium import (
    HEADLESS_SHELL,
    BrowserChoice,
    find_chromium,
    managed_chromium_path,
)
from stackwright.support.browser.video import provide_ffmpeg, video_problem
from stackwright.support.errors import BrowserNotFound


def ensure_chromium() -> int:
    """``python -m stackwright.support.browser.setup``: find a Chromium, or install one, or say
    what to run."""

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
    if video_problem() and not shutil.which("ffmpeg"):
        _apt_install("ffmpeg", why="for videos of retried tests (optional)")
    print(provide_ffmpeg())


_apt_state = {"updated": False}


def _apt_install(package: str, *, why: str) -> bool:
    """apt-get install ``package`` when root on Debian; True when it worked."""

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

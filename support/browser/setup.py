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
from stackwright.support.packages import apt_install


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


def _apt_install(package: str, *, why: str) -> bool:
    return apt_install(package, why=why, label="browser")


if __name__ == "__main__":
    raise SystemExit(ensure_chromium())

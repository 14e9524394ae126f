"""Whether Playwright can record video here: it needs its own ffmpeg build, which it
downloads with its browsers. Where that download is impossible, a system ffmpeg
(Debian's works) linked where Playwright looks for its own does the job.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from stackwright.support.browser.chromium import managed_revisions

_NAMES = {"linux": "ffmpeg-linux", "darwin": "ffmpeg-mac", "win32": "ffmpeg-win64.exe"}


def _browsers_dir() -> Path:
    configured = os.environ.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured == "0":
        import playwright

        return Path(playwright.__file__).parent / "driver" / "package" / ".local-browsers"
    if configured:
        return Path(configured)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ms-playwright"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ms-playwright"


def ffmpeg_path() -> Path | None:
    """Where Playwright looks for its ffmpeg (None if its driver does not say)."""
    revision = managed_revisions().get("ffmpeg")
    if revision is None:
        return None
    name = _NAMES.get(sys.platform, "ffmpeg-linux")
    return _browsers_dir() / f"ffmpeg-{revision}" / name


def video_problem() -> str | None:
    """Why a video cannot be recorded here, with what to do; None when it can."""
    path = ffmpeg_path()
    if path is None or path.exists():
        return None
    return (
        f"no video: Playwright's ffmpeg is not at {path}. Run 'playwright install ffmpeg', "
        f"or install ffmpeg (apt-get install ffmpeg) and link it: ln -s $(which ffmpeg) {path}"
    )


def provide_ffmpeg() -> str:
    """Link a system ffmpeg where Playwright looks for its own, if that is missing."""
    path = ffmpeg_path()
    if path is None or path.exists():
        return "video: ready"
    system = shutil.which("ffmpeg")
    if system is None:
        return f"video: unavailable ({video_problem()})"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(system)
    return f"video: linked {system} at {path}"

"""The seeded template database: built once per run, copied per worker."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .config import HarnessConfig, ServiceSpec
from .errors import TemplateBuildFailed


def build_template(config: HarnessConfig) -> float | None:
    """Build ``config.template_path`` with ``template_cmd``; seconds taken, None if no command.

    Safe to call from several processes: a file lock makes one build and the
    others reuse its result.
    """
    if not config.template_cmd:
        return None
    target = config.template_path
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return 0.0
        started = time.perf_counter()
        partial = target.with_suffix(".building")
        partial.unlink(missing_ok=True)
        spec = ServiceSpec("template", config.template_cmd)
        command = spec.render({**placeholder_defaults(config), "db": str(partial)})
        result = subprocess.run(
            command,
            cwd=config.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        if result.returncode != 0 or not partial.exists():
            raise TemplateBuildFailed(
                command,
                result.returncode,
                result.stdout.decode("utf-8", "replace"),
                missing=partial if result.returncode == 0 else None,
            )
        os.replace(partial, target)
        return time.perf_counter() - started


def copy_template(config: HarnessConfig, destination: Path) -> Path:
    """The worker's own database: a copy of the template (or a new empty path)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    for stale in destination.parent.glob(destination.name + "*"):
        stale.unlink()
    if config.template_cmd:
        shutil.copyfile(config.template_path, destination)
    return destination


def placeholder_defaults(config: HarnessConfig) -> dict[str, str]:
    return {
        "python": sys.executable,
        "root": config.root,
        "host": config.host,
        "gateway_root": config.gateway_root or "",
    }

"""The seeded template database: built once per run, copied per worker."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import HarnessConfig, ServiceSpec
from .errors import ConfigError, DatabaseResetFailed, TemplateBuildFailed

RESET_TIMEOUT = 10.0


def build_template(config: HarnessConfig, env: Mapping[str, str] | None = None) -> float | None:
    """Build ``config.template_path`` with ``template_cmd``; seconds taken, None if no command.

    The command runs in the rootdir with ``env`` (the run's environment, .env.test
    included) and is stopped, with its whole process group, after
    ``config.template_timeout`` seconds. Safe to call from several processes: a
    file lock makes one build and the others reuse its result.
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
        command = spec.render({**placeholder_defaults(config), "db": str(partial)}, env)
        result = _run(command, config, env)
        if result.returncode != 0 or not partial.exists():
            raise TemplateBuildFailed(
                command,
                result.returncode,
                result.stdout.decode("utf-8", "replace"),
                missing=partial if result.returncode == 0 else None,
            )
        os.replace(partial, target)
        return time.perf_counter() - started


def _run(
    command: list[str], config: HarnessConfig, env: Mapping[str, str] | None
) -> subprocess.CompletedProcess[bytes]:
    """Run the template command; on a time-out, stop its process group and say so."""
    child = subprocess.Popen(
        command,
        cwd=config.root,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = child.communicate(timeout=config.template_timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        output, _ = child.communicate()
        raise TemplateBuildFailed(
            command,
            None,
            output.decode("utf-8", "replace"),
            timeout=config.template_timeout,
        ) from None
    return subprocess.CompletedProcess(command, child.returncode, output)


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


def reset_database(
    config: HarnessConfig, values: Mapping[str, str], db_path: Path
) -> dict[str, Any]:
    """Restore a worker's seeded data: the configured ``db_reset`` request, else the template.

    Without a request, the template is copied into the live SQLite file with
    SQLite's backup API, which takes the database's locks like any writer.
    """
    if config.db_reset:
        return _reset_request(config.db_reset, values)
    if config.template_cmd and config.template_path.exists():
        source, target = sqlite3.connect(config.template_path), sqlite3.connect(db_path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return {"status": "restored", "template": str(config.template_path)}
    raise ConfigError(
        "fresh_db has nothing to restore from: set db_reset in playwright.ini (the request "
        "that restores the seeded data, e.g. 'db_reset = POST {backend_url}/testing/reset'), "
        "or template_db_cmd to build a SQLite template that is copied back"
    )


def _reset_request(template: str, values: Mapping[str, str]) -> dict[str, Any]:
    method, _, url = template.strip().partition(" ")
    if not url.strip():
        method, url = "POST", method
    method, url = method.upper(), " ".join(ServiceSpec("db_reset", url).render(values))
    request = urllib.request.Request(url, method=method, data=None if method == "GET" else b"")
    try:
        with urllib.request.urlopen(request, timeout=RESET_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        answer = exc.read()[:300].decode("utf-8", "replace")
        raise DatabaseResetFailed(method, url, exc.code, answer) from None
    except OSError as exc:
        raise DatabaseResetFailed(method, url, None, str(exc)) from None
    try:
        result = json.loads(body) if body.strip() else {}
    except ValueError:
        result = {"body": body[:300].decode("utf-8", "replace")}
    return result if isinstance(result, dict) else {"result": result}

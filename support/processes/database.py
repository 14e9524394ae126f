"""The seeded template database: built once per run, copied per worker.

The run does not wait for the seed: workers start every service that does not name
``{db}`` (and launch their browsers) while it runs, and ``wait_for_template`` holds
back only the services that do. The controller publishes the template by renaming it
into place, or its failure in ``template.failed`` beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stackwright.support.config.services import fill_text
from stackwright.support.config.settings import HarnessConfig
from stackwright.support.errors import ConfigError, DatabaseResetFailed, TemplateUnavailable

RESET_TIMEOUT = 10.0
#: Beside the template: why it will not come (the step's error), written whole.
TEMPLATE_FAILED = "template.failed"


def publish_template_failure(config: HarnessConfig, message: str) -> None:
    """Tell every worker waiting for the template that it will not come, and why."""
    folder = config.template_path.parent
    partial = folder / f".{TEMPLATE_FAILED}.{os.getpid()}"
    partial.write_text(message)
    os.replace(partial, folder / TEMPLATE_FAILED)


def wait_for_template(
    config: HarnessConfig, *, poll: float = 0.01, on_wait: Callable[[], object] | None = None
) -> float:
    """Seconds waited until the run's template is there (none, without a template step);
    TemplateUnavailable with the step's own error when it failed, or when it did not come
    within the template's timeout (and a minute more for the cache). ``on_wait`` is
    called between looks (what else the caller watches meanwhile)."""
    if not config.template_cmd:
        return 0.0
    started = time.monotonic()
    path, failed = config.template_path, config.template_path.parent / TEMPLATE_FAILED
    limit = started + config.template_timeout + 60.0
    while not path.exists():
        if failed.exists():
            raise TemplateUnavailable(failed.read_text(errors="replace"))
        if time.monotonic() > limit:
            raise TemplateUnavailable(
                f"the template database did not appear at {path} within "
                f"{config.template_timeout + 60:g} s (template_db_timeout and a minute); "
                "the run's summary says what its step did"
            )
        if on_wait is not None:
            on_wait()
        time.sleep(poll)
    return time.monotonic() - started


def copy_template(config: HarnessConfig, destination: Path) -> Path:
    """The worker's own database: a copy of the template (or a new empty path)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    for stale in destination.parent.glob(destination.name + "*"):
        stale.unlink()
    if config.template_cmd:
        shutil.copyfile(config.template_path, destination)
    return destination


def reset_database(
    config: HarnessConfig, values: Mapping[str, str], db_path: Path
) -> dict[str, Any]:
    """Restore a worker's seeded data: the configured ``db_reset`` request, else the template.

    Without a request, the template is copied into the live SQLite file with
    SQLite's backup API, which takes the database's locks like any writer.
    """
    if config.db_reset:
        return _reset_request(config.db_reset, values, config.ini_name)
    if config.template_cmd and config.template_path.exists():
        source, target = sqlite3.connect(config.template_path), sqlite3.connect(db_path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return {"status": "restored", "template": str(config.template_path)}
    raise ConfigError(
        f"fresh_db has nothing to restore from: set db_reset in {config.ini_name} (the request "
        "that restores the seeded data, e.g. 'db_reset = POST {backend_url}/testing/reset'), "
        "or template_db_cmd to build a SQLite template that is copied back"
    )


def _reset_request(template: str, values: Mapping[str, str], ini: str) -> dict[str, Any]:
    method, _, url = template.strip().partition(" ")
    if not url.strip():
        method, url = "POST", method
    method, url = method.upper(), fill_text("db_reset", "URL", url.strip(), values)
    request = urllib.request.Request(url, method=method, data=None if method == "GET" else b"")
    try:
        with urllib.request.urlopen(request, timeout=RESET_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        answer = exc.read()[:300].decode("utf-8", "replace")
        raise DatabaseResetFailed(method, url, exc.code, answer, ini) from None
    except OSError as exc:
        raise DatabaseResetFailed(method, url, None, str(exc), ini) from None
    try:
        result = json.loads(body) if body.strip() else {}
    except ValueError:
        result = {"body": body[:300].decode("utf-8", "replace")}
    return result if isinstance(result, dict) else {"result": result}

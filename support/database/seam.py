"""One seam for what the harness does with a database, whatever the engine.

A ``Database`` is the run's: it seeds the template (the template step's command runs
between ``begin_seed`` and ``finish_seed``) and makes each worker's ``WorkerDatabase``,
which is created from the template, restored to it for ``fresh_db`` (and for a kept
stack a run attaches to), and named to services by its placeholders (``{db_url}`` on
every engine, ``{db}`` the SQLite file). ``support.database.sqlite`` and
``support.database.postgres`` are its two implementations; ``database_for`` picks
one by the configuration.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from stackwright.support.config import HarnessConfig, RunFacts, fill_text
from stackwright.support.config.database import POSTGRESQL
from stackwright.support.errors import ConfigError, DatabaseResetFailed

RESET_TIMEOUT = 10.0


class WorkerDatabase(Protocol):
    """One worker's database."""

    @property
    def values(self) -> Mapping[str, str]:
        """``{db_url}`` (and on SQLite ``{db}``), for its services."""

    def create(self) -> None:
        """Make it from the run's template (a new empty one without a template step),
        replacing what a previous run left."""

    def restore(self) -> dict[str, Any]:
        """Give it back the template's data while its services keep running; what was
        done."""

    def keep(self) -> str:
        """Leave its data in the worker's folder for a person to read after the run (the
        folder is kept: a test failed); a line saying where, or why not ('' when there
        is nothing to say: a SQLite file is there already)."""

    def close(self) -> None: ...


class Database(Protocol):
    """The run's database engine: the template's seed and each worker's copy."""

    @property
    def identity(self) -> str:
        """The engine's name and version, for the template's cache key."""

    def seed_values(self, output: Path) -> dict[str, str]:
        """The placeholders of the template command, which writes into ``output``'s
        database (on SQLite, the file itself)."""

    def begin_seed(self) -> None:
        """Make the empty template the command fills."""

    def finish_seed(self, output: Path) -> Path | str | None:
        """After the command succeeded: make the template whole at ``output`` (and quiet,
        for the cache to copy the server's data); None, or what the command did not
        write (a path, or a database's URL)."""

    def worker(self, name: str, folder: Path) -> WorkerDatabase: ...

    def close(self) -> None: ...


def database_for(config: HarnessConfig, facts: RunFacts) -> Database:
    """The configured engine's implementation (PostgreSQL's needs the run's facts: the
    port its server took)."""
    if config.database == POSTGRESQL:
        from stackwright.support.database.postgres import PostgresDatabase

        return PostgresDatabase(config, facts)
    from stackwright.support.database.sqlite import SqliteDatabase

    return SqliteDatabase(config)


def claim_private_folder(config: HarnessConfig) -> None:
    """Make the run's private folder, where the run services' ``{data}`` is when it is
    not in the output folder (``HarnessConfig.data_root``): this user's alone, and
    refused when something else stands at its name (another user's, or a link)."""
    folder = config.data_root.parent
    if folder == config.services_dir:
        return
    folder.mkdir(mode=0o700, exist_ok=True)
    found = os.lstat(folder)
    if stat.S_ISLNK(found.st_mode) or found.st_uid != os.geteuid():
        raise ConfigError(
            f"{folder}, the run's private folder for its PostgreSQL server, is "
            f"{'a link' if stat.S_ISLNK(found.st_mode) else 'owned by another user'}: "
            "the harness does not use it. Remove it, or run from another output folder"
        )


def reset_database(
    config: HarnessConfig, database: WorkerDatabase, values: Mapping[str, str]
) -> dict[str, Any]:
    """Restore a worker's seeded data for ``fresh_db``: the configured ``db_reset``
    request (the backend restores it itself), else the engine's own restore."""
    if config.db_reset:
        return _reset_request(config.db_reset, values, config.ini_name)
    return database.restore()


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

"""PostgreSQL: the seed fills a template database on the run's server; each worker gets
a ``CREATE DATABASE ... TEMPLATE`` clone of it, and ``fresh_db`` drops and clones it
again (its services' connections are ended: a backend whose pool checks its
connections, SQLAlchemy's ``pool_pre_ping``, goes on with its next request).

The server is the run-scoped service ``postgres`` (``support.config.database``),
reached over its private socket folder by psycopg, imported here only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from stackwright.support.config import HarnessConfig, RunFacts
from stackwright.support.config.database import (
    LAUNCH,
    SERVER,
    SUPERUSER,
    TEMPLATE_DB,
    database_url,
)
from stackwright.support.errors import ConfigError, DatabaseUnavailable

CONNECT_TIMEOUT = 10
#: A kept worker's database, in its folder; what pg_dump may take to write it.
DUMP = "db.sql"
DUMP_TIMEOUT = 120


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "database = postgresql needs psycopg, PostgreSQL's driver for Python, in the "
            "harness's environment: pip install 'stackwright[postgresql]'"
        ) from None
    return psycopg


class Server:
    """The run's server, as its clients reach it."""

    def __init__(self, config: HarnessConfig, facts: RunFacts) -> None:
        url = facts.run_urls.get(SERVER)
        if not url:
            raise DatabaseUnavailable(
                "the run's PostgreSQL server is not known to this process (no "
                f"{SERVER} among the run's services): was it started?"
            )
        self.config = config
        self.socket = config.data_root / SERVER
        self.port = url.rsplit(":", 1)[1]
        self.log = Path(facts.run_dir or config.services_dir / "run") / f"{SERVER}.log"
        self._admin: Any = None
        self._guard = threading.Lock()

    def url(self, name: str) -> str:
        return database_url(self.socket, self.port, name)

    def connect(self, name: str) -> Any:
        psycopg = _driver()
        try:
            return psycopg.connect(
                host=str(self.socket),
                port=self.port,
                user=SUPERUSER,
                dbname=name,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT,
            )
        except psycopg.Error as exc:
            raise self.failed(f"cannot connect to database {name}", exc) from None

    def run(self, *statements: str) -> list[Any]:
        """Run statements on the maintenance database, one connection kept for them;
        the last one's rows."""
        psycopg = _driver()
        with self._guard:
            if self._admin is None or self._admin.closed:
                self._admin = self.connect("postgres")
            rows: list[Any] = []
            for statement in statements:
                try:
                    cursor = self._admin.execute(statement)
                    rows = cursor.fetchall() if cursor.description else []
                except psycopg.Error as exc:
                    if self._admin.broken:
                        self._admin = None
                    raise self.failed(statement, exc) from None
            return rows

    def failed(self, what: str, exc: Exception) -> DatabaseUnavailable:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return DatabaseUnavailable(
            f"the run's PostgreSQL server (socket {self.socket}, port {self.port}) refused "
            f"{what}: {reason}. Its log is {self.log}; the {SERVER} service's section of a "
            "failed test's report shows what it said meanwhile"
        )

    def close(self) -> None:
        with self._guard:
            if self._admin is not None:
                self._admin.close()
                self._admin = None


def _name(identifier: str) -> str:
    """A database's name, quoted for SQL."""
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: How long the clients of a database have to go once they are told to, and how often
#: the harness looks meanwhile.
END_TIMEOUT = 5.0
END_POLL = 0.002


def clone(server: Server, name: str, template: str | None) -> None:
    """Drop ``name`` and make it again from ``template``.

    Its clients (a backend's pool) are ended first and watched until they are gone:
    ``DROP DATABASE ... WITH (FORCE)`` ends them too, but then waits for them in steps
    of 100 ms, most of a reset's time."""
    clients = f"FROM pg_stat_activity WHERE datname = {_literal(name)} AND pid <> pg_backend_pid()"
    server.run(f"SELECT pg_terminate_backend(pid) {clients}")
    deadline = time.monotonic() + END_TIMEOUT
    while server.run(f"SELECT count(*) {clients}")[0][0] and time.monotonic() < deadline:
        time.sleep(END_POLL)
    source = f" TEMPLATE {_name(template)} STRATEGY FILE_COPY" if template else ""
    server.run(
        f"DROP DATABASE IF EXISTS {_name(name)} WITH (FORCE)",
        f"CREATE DATABASE {_name(name)}{source}",
    )


class PostgresDatabase:
    """The template database on the run's server, and a clone of it per worker."""

    def __init__(self, config: HarnessConfig, facts: RunFacts) -> None:
        self.config = config
        self.facts = facts
        self._server: Server | None = None

    @functools.cached_property
    def identity(self) -> str:
        """For the template's cache key only (a worker never asks)."""
        return f"postgresql {server_version(self.config.postgres_bin)}, {cluster_recipe()}"

    @property
    def server(self) -> Server:
        """The server, once the run knows its port (the cache key needs only its version)."""
        if self._server is None:
            self._server = Server(self.config, self.facts)
        return self._server

    def seed_values(self, output: Path) -> dict[str, str]:
        return {"db_url": self.server.url(TEMPLATE_DB)}

    def begin_seed(self) -> None:
        clone(self.server, TEMPLATE_DB, None)

    def finish_seed(self, output: Path) -> str | None:
        """The template whole: it holds a table, the server has written it all to its
        files (a checkpoint: the cache copies them next), and the note workers wait for
        says so."""
        with self.server.connect(TEMPLATE_DB) as seeded:
            tables = seeded.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN "
                "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
            ).fetchone()[0]
        if not tables:
            return f"any table in {self.server.url(TEMPLATE_DB)}"
        self.server.run("CHECKPOINT")
        note = {"database": TEMPLATE_DB, "tables": tables, "server": self.identity}
        output.write_text(json.dumps(note) + "\n")
        return None

    def worker(self, name: str, folder: Path) -> PostgresWorker:
        template = TEMPLATE_DB if self.config.template_cmd else None
        return PostgresWorker(self.server, name, template, folder)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


class PostgresWorker:
    """A worker's database: a clone of the template, named after the worker."""

    def __init__(self, server: Server, name: str, template: str | None, folder: Path) -> None:
        self.server = server
        self.name = name
        self.template = template
        self.folder = folder
        self.values = {"db_url": server.url(name)}

    def create(self) -> None:
        clone(self.server, self.name, self.template)

    def restore(self) -> dict[str, Any]:
        clone(self.server, self.name, self.template)
        return {"status": "restored", "database": self.name, "template": self.template}

    def keep(self) -> str:
        """The database dumped as SQL into the worker's folder (``pg_dump``; the server's
        data folder goes with the run), whole or not at all."""
        target = self.folder / DUMP
        partial = target.with_name(f".{DUMP}.partial")
        command = [str(Path(self.server.config.postgres_bin or "") / "pg_dump"), "--no-owner"]
        command += ["--file", str(partial), "--dbname", self.server.url(self.name)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=DUMP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            why = str(exc)
        else:
            why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[0]
            if done.returncode == 0:
                partial.replace(target)
                return f"database {self.name} kept as {target} (psql -f loads it)"
        partial.unlink(missing_ok=True)
        return f"database {self.name} not kept: {why}"

    def close(self) -> None:
        self.server.close()


def cluster_recipe() -> str:
    """What makes the server's data folder (initdb's options): a cached folder of another
    recipe is not used."""
    return "cluster " + hashlib.sha256(LAUNCH.encode()).hexdigest()[:12]


_VERSIONS: dict[str, str] = {}


def server_version(bin_folder: str | None) -> str:
    """``postgres --version`` of the server's programs (the cache key names it: a
    cluster of one major version does not start on another)."""
    folder = str(bin_folder or "")
    if folder not in _VERSIONS:
        try:
            out = subprocess.run(
                [str(Path(folder, "postgres")), "--version"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            out = f"unknown ({exc})"
        _VERSIONS[folder] = out.strip()
    return _VERSIONS[folder]

"""Engine, sessions, schema and the fast reset of a SQLite file.

The database is a SQLite file (a path, or ``sqlite:///path``) or a PostgreSQL database
(``postgresql://...``, through psycopg). On PostgreSQL the pool checks a connection
before lending it: a test harness may drop and clone the database under a running
server, and the next request then connects afresh.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from .models import Base

SQLITE_PREFIX = "sqlite:///"


def sqlite_path(target: str | Path) -> Path | None:
    """The SQLite file ``target`` names (a path or a sqlite URL), or None for a server's URL."""
    text = str(target)
    if text.startswith(SQLITE_PREFIX):
        return Path(text[len(SQLITE_PREFIX) :])
    return None if "://" in text else Path(text)


def engine_url(target: str | Path) -> str:
    path = sqlite_path(target)
    if path is not None:
        return f"{SQLITE_PREFIX}{path}"
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


class Database:
    """One database (a SQLite file, or a PostgreSQL database), its engine and a session
    factory."""

    def __init__(self, target: str | Path) -> None:
        #: The SQLite file, or None on a server.
        self.path = sqlite_path(target)
        if self.path is not None:
            self.engine: Engine = create_engine(engine_url(target))
            event.listen(self.engine, "connect", _on_connect)
        else:
            self.engine = create_engine(engine_url(target), pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)

    def drop_schema(self) -> None:
        Base.metadata.drop_all(self.engine)

    def is_answering(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def snapshot_to(self, target: Path) -> None:
        """Copy the live database to ``target`` with SQLite's backup API."""
        assert self.path is not None, "a snapshot is of a SQLite file"
        with sqlite3.connect(self.path) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        dst.close()
        src.close()

    def restore_from(self, source: Path) -> None:
        """Overwrite the live database with ``source`` while the server runs."""
        assert self.path is not None, "a restore is of a SQLite file"
        self.engine.dispose()
        src = sqlite3.connect(source)
        dst = sqlite3.connect(self.path)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()

"""``python -m stackwright.support.database.setup`` (``make e2e-postgres``): find the
PostgreSQL server a run with ``database = postgresql`` starts, or install Debian's when
root, and check its Python driver; or say what to do."""

from __future__ import annotations

import os
import sys

from stackwright.support.config.database import find_server, server_user
from stackwright.support.database.postgres import server_version
from stackwright.support.errors import ConfigError
from stackwright.support.packages import apt_install


def ensure_postgres(ini: str = "playwright.ini") -> int:
    configured = os.environ.get("PLAYWRIGHT_POSTGRES_BIN")
    try:
        folder = find_server(configured, ini=ini)
    except ConfigError as exc:
        if configured or not apt_install("postgresql", why="no server found", label="postgresql"):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        folder = find_server(None, ini=ini)
    try:
        user = server_user(os.environ.get("PLAYWRIGHT_POSTGRES_USER"), ini=ini)
        import psycopg  # noqa: F401 - only whether it imports
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ImportError:
        print("error: psycopg is missing: pip install 'stackwright[postgresql]'", file=sys.stderr)
        return 1
    runs_as = f", run as {user} (the harness is root)" if user else ""
    print(f"postgresql: {server_version(str(folder))} in {folder}{runs_as}")
    return 0


if __name__ == "__main__":
    raise SystemExit(ensure_postgres())

"""A seed and a backend on any engine, for the harness's database tests: real programs
on a real SQLite file or a real PostgreSQL database.

    python fake_db.py seed URL                 # a table of 3 items; "seeded" in seed-runs.txt
    python fake_db.py serve --port P --db URL  # GET /ready /count /bad[?mark=M], POST /add

The backend keeps one connection, and when it finds it ended (the harness dropped and
cloned its database for fresh_db) connects again, as a pool that checks its
connections does (SQLAlchemy's pool_pre_ping).
"""

from __future__ import annotations

import argparse
import http.server
import json
import sqlite3
import sys
from typing import Any


def connect(url: str) -> Any:
    if url.startswith("sqlite:///"):
        return sqlite3.connect(url[len("sqlite:///") :], check_same_thread=False)
    import psycopg

    return psycopg.connect(url, autocommit=True)


def seed(url: str) -> int:
    with open("seed-runs.txt", "a") as runs:
        runs.write("seeded\n")
    db = connect(url)
    db.execute("create table items (id integer primary key, name text)")
    for n in range(3):
        db.execute(f"insert into items values ({n}, 'item {n}')")
    db.commit()
    db.close()
    return 0


class Handler(http.server.BaseHTTPRequestHandler):
    url = ""
    db: Any = None

    def _query(self, sql: str) -> Any:
        for attempt in (1, 2):
            try:
                if Handler.db is None:
                    Handler.db = connect(Handler.url)
                cursor = Handler.db.execute(sql)
                rows = cursor.fetchall() if cursor.description else []
                Handler.db.commit()
                return rows
            except Exception as exc:
                print(f"backend query {sql!r} failed: {exc}".strip(), flush=True)
                Handler.db = None
                if attempt == 2 or "items" not in sql:
                    raise
        return None

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/count":
            self._answer(200, self._query("select count(*) from items")[0][0])
        elif self.path.startswith("/bad"):
            mark = self.path.partition("?mark=")[2]  # a table named after the test
            try:
                self._query(f'select * from "{mark}"' if mark else "select * from no_such_table")
            except Exception as exc:
                self._answer(500, str(exc))
        else:
            self._answer(200, "ready")

    def do_POST(self) -> None:
        self._query("insert into items (id, name) select max(id) + 1, 'added' from items")
        self._answer(200, "added")

    def log_message(self, format: str, *args: object) -> None:
        print(f"backend {self.command} {self.path}", flush=True)


def main() -> int:
    if sys.argv[1] == "seed":
        return seed(sys.argv[2])
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    Handler.url = args.db
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"backend serving on {args.port} with {args.db.split('?')[0]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``serve`` and ``init-db``.

python -m app.backend serve --host 127.0.0.1 --port 5001 --db data/app.sqlite
python -m app.backend init-db --db data/app.sqlite --load-test-data

``--db`` is a SQLite file, or a database's URL: ``sqlite:///data/app.sqlite``, or
``postgresql://user@host/name`` (an existing, empty database for init-db).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import time
from types import FrameType


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def _init_db(args: argparse.Namespace) -> int:
    # A short-lived process that mostly imports and inserts: the cyclic GC only
    # costs time here (about a tenth of the run).
    gc.disable()
    from .db import Database, sqlite_path
    from .seed import load_test_data

    path = sqlite_path(args.db)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            if not args.force:
                print(f"error: {path} exists; pass --force to replace it", file=sys.stderr)
                return 2
            path.unlink()
    started = time.perf_counter()
    db = Database(args.db)
    if path is None and args.force:
        db.drop_schema()
    db.create_schema()
    if args.load_test_data:
        with db.session() as session:
            load_test_data(session)
    db.engine.dispose()
    elapsed = (time.perf_counter() - started) * 1000
    logging.getLogger("backend").info("initialised %s in %.0fms", path or "the database", elapsed)
    return 0


def _serve(args: argparse.Namespace) -> int:
    gc.disable()  # start-up is mostly imports; collecting during them is wasted work
    from werkzeug.serving import make_server

    from .db import sqlite_path
    from .factory import create_app
    from .state import Config, get_state

    path = sqlite_path(args.db)
    if path is not None and not path.exists():
        print(f"error: database {path} not found; run init-db first", file=sys.stderr)
        return 2
    config = Config(
        db=str(args.db),
        env=os.environ.get("FLASK_ENV", "development"),
        gateway_url=os.environ.get("SSE_GATEWAY_URL") or None,
        ai_provider=os.environ.get("AI_PROVIDER") or None,
        callback_secret=os.environ.get("SSE_CALLBACK_SECRET") or None,
        catalog_step_seconds=_seconds("AI_CATALOG_STEP_SECONDS", default=0.6),
    )
    app = create_app(config)
    if config.is_testing:
        with app.app_context():
            state = get_state()
            if state.seed_path is not None:  # /api/testing/reset copies it back
                state.db.snapshot_to(state.seed_path)
    gc.enable()
    server = make_server(args.host, args.port, app, threaded=True)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    logging.getLogger("backend").info(
        "serving http://%s:%s env=%s db=%s gateway=%s provider=%s",
        args.host,
        server.port,
        config.env,
        path or "(server)",
        config.gateway_url,
        config.default_provider,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        logging.getLogger("backend").info("stopped")
    return 0


def _seconds(name: str, *, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise SystemExit(f"error: {name} must be a number of seconds >= 0, got {raw!r}")
    return value


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.backend")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5001)
    serve.add_argument("--db", required=True, help="SQLite file, or a database URL")
    init = sub.add_parser("init-db", help="create the schema in a new database")
    init.add_argument("--db", required=True, help="SQLite file to create, or a database URL")
    init.add_argument("--load-test-data", action="store_true", help="load the seeded data set")
    init.add_argument("--force", action="store_true", help="replace an existing database")
    args = parser.parse_args(argv)
    _setup_logging()
    return _init_db(args) if args.command == "init-db" else _serve(args)


if __name__ == "__main__":
    sys.exit(main())

"""Which database a worker gets, as configuration: the engine, and for PostgreSQL the
run-scoped server the harness starts.

SQLite (the default): the seed writes a file, ``{db}``; each worker gets a copy.
PostgreSQL (``database = postgresql``): the harness adds a run-scoped service named
``postgres`` (a server of the machine's own PostgreSQL, on a private socket folder,
fsync off), the seed fills a template database on it, and each worker gets a
``CREATE DATABASE ... TEMPLATE`` clone. ``{db_url}`` names the worker's database on
either engine. The server is a service like any other (its log sliced per test, a
dead one named and restarted), and its data folder is its ``{data}``, cached with the
template, so an unchanged seed does not run.

Nothing here connects to anything: ``support.database`` does.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from stackwright.support.config.services import DATA, ServiceSpec
from stackwright.support.errors import ConfigError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
ENGINES = (SQLITE, POSTGRESQL)
#: The service the harness adds for PostgreSQL (a team's own service may not take it).
SERVER = "postgres"
#: The server's superuser (trust over the private socket only) and the seed's database.
SUPERUSER = "stackwright"
TEMPLATE_DB = "stackwright_template"
#: The line the server logs once it takes connections: its readiness.
READY_LINE = "database system is ready to accept connections"
#: Where distributions put PostgreSQL's programs, newest first within each.
_SEARCHED = ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin")
#: The test server's settings: speed over durability (its data is a throwaway copy),
#: no TCP (its socket is in its private data folder), no autovacuum (a quiet server is
#: what the cache copies).
SERVER_OPTIONS = (
    "listen_addresses=",
    "fsync=off",
    "full_page_writes=off",
    "synchronous_commit=off",
    "autovacuum=off",
    "min_wal_size=2MB",
    "max_wal_size=64MB",
    "log_checkpoints=off",
    "log_line_prefix=%m [%p] %d ",
)
#: Whose a server log line is: its database, after the prefix above's time (%m: date, time,
#: zone) and process; a worker's database is named as the worker. Server-wide lines
#: name none.
LINE_OWNER = r"^\S+ \S+ \S+ \[\d+\] (\S*) "
#: Make the cluster on first start (or take the one restored from the cache), then
#: become the server, its socket in its own data folder (private: mode 0700). Run by
#: ``sh`` as the server's user; $1 bin, $2 data, $3 port, the rest its -c options.
LAUNCH = (
    'set -e; bin=$1 data=$2 port=$3; shift 3; if [ ! -s "$data/PG_VERSION" ]; then '
    f'"$bin/initdb" -D "$data" -U {SUPERUSER} --auth=trust -N -E UTF8 --no-locale '
    '--wal-segsize=1 --no-instructions; fi; rm -f "$data/postmaster.pid"; '
    'exec "$bin/postgres" -D "$data" -k "$data" -p "$port" "$@"'
)


def check_engine(name: str, raw: str) -> str:
    value = raw.strip().lower()
    aliases = {"postgres": POSTGRESQL, "pg": POSTGRESQL, "sqlite3": SQLITE}
    value = aliases.get(value, value)
    if value not in ENGINES:
        raise ConfigError(f"{name} must be one of {', '.join(ENGINES)}, got {raw!r}")
    return value


def find_server(configured: str | None, *, ini: str) -> Path:
    """The folder of PostgreSQL's ``initdb`` and ``postgres``: ``postgres_bin``, else
    where ``pg_config`` says, else the newest of the usual places."""
    if configured:
        folder = Path(configured).expanduser()
        if not _has_server(folder):
            raise ConfigError(
                f"postgres_bin is {configured}, which holds no initdb and postgres; point "
                f"it (in {ini}, or PLAYWRIGHT_POSTGRES_BIN) at PostgreSQL's bin folder"
            )
        return folder
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout
            candidates.append(Path(out.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for pattern in _SEARCHED:
        root = Path(pattern.split("*", 1)[0]).parent
        found = sorted(root.glob(pattern[len(str(root)) + 1 :]), key=_version_order)
        candidates.extend(reversed(found))
    for folder in candidates:
        if _has_server(folder):
            return folder
    raise ConfigError(
        "database = postgresql, but no PostgreSQL server was found on this machine "
        "(initdb and postgres; looked at pg_config, PATH and "
        f"{', '.join(_SEARCHED)}). Install it (Debian, Ubuntu: apt-get install "
        f"postgresql; macOS: brew install postgresql@16), or set postgres_bin in {ini} "
        "(PLAYWRIGHT_POSTGRES_BIN) to its bin folder"
    )


def _has_server(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in ("initdb", "postgres"))


def _version_order(path: Path) -> tuple[int, ...]:
    digits = "".join(c if c.isdigit() else " " for c in str(path)).split()
    return tuple(int(d) for d in digits)


def server_user(configured: str | None, *, ini: str) -> str:
    """Who runs the server: '' (this process's user), or when the harness runs as root,
    ``postgres_user`` (default ``postgres``), since PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return ""
    name = configured or "postgres"
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ConfigError(
            f"the harness runs as root, and PostgreSQL refuses to: it runs the server as "
            f"{name!r}, a user this machine does not have. Create it (useradd --system "
            f"{name}), or set postgres_user in {ini} (PLAYWRIGHT_POSTGRES_USER) to another "
            "unprivileged user"
        ) from None
    return name


def private_folder(services_dir: Path) -> Path:
    """The run's own short folder outside the output folder, for the run-scoped services'
    ``{data}`` when the run has a PostgreSQL server: a socket's path may not pass 107
    bytes, and a server run as another user must reach its data through folders the
    harness opens to it alone (an output folder may sit under a home of mode 0700)."""
    digest = hashlib.sha256(str(services_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"stackwright-{os.geteuid()}-{digest}"


def server_spec(bin_folder: Path, user: str, timeout: float) -> ServiceSpec:
    """The run-scoped service that is the PostgreSQL server, its data folder (and
    socket) its ``{data}``."""
    options = [word for option in SERVER_OPTIONS for word in ("-c", option)]
    words = ["sh", "-c", LAUNCH]
    filled = {f"{{{DATA}}}", "{port}"}  # the only placeholders: the rest is literal
    words += [SERVER, str(bin_folder), f"{{{DATA}}}", "{port}", *options]
    escaped = [w if w in filled else w.replace("{", "{{").replace("}", "}}") for w in words]
    return ServiceSpec(
        SERVER,
        shlex.join(escaped),
        ready=("log", READY_LINE),
        timeout=max(timeout, 60.0),
        scope="run",
        user=user,
        log_owner=LINE_OWNER,
    )


def database_url(socket: Path, port: int | str, name: str) -> str:
    """``{db_url}`` of a database on the run's server (libpq's form: the socket folder
    as ``host``)."""
    return f"{POSTGRESQL}://{SUPERUSER}@/{name}?host={socket}&port={port}"


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{path}"

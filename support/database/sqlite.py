"""SQLite: the template is a file the seed writes; each worker gets a copy of it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

from stackwright.support.config import HarnessConfig
from stackwright.support.config.database import SQLITE, sqlite_url
from stackwright.support.errors import ConfigError


class SqliteDatabase:
    identity = SQLITE

    def __init__(self, config: HarnessConfig | None = None) -> None:
        #: None for a seed alone (a run step without a run's configuration).
        self.config = config

    def seed_values(self, output: Path) -> dict[str, str]:
        return {"db": str(output), "db_url": sqlite_url(output)}

    def begin_seed(self) -> None:
        pass

    def finish_seed(self, output: Path) -> Path | None:
        return None if output.is_file() else output

    def worker(self, name: str, folder: Path) -> SqliteWorker:
        assert self.config is not None, "a worker's database needs the run's configuration"
        return SqliteWorker(self.config, folder / "db.sqlite")

    def close(self) -> None:
        pass


class SqliteWorker:
    """A worker's SQLite file: ``{db}``."""

    def __init__(self, config: HarnessConfig, path: Path) -> None:
        self.config = config
        self.path = path
        self.values = {"db": str(path), "db_url": sqlite_url(path)}

    def create(self) -> None:
        """A copy of the template (or a new empty path), whatever a previous run left."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for stale in self.path.parent.glob(self.path.name + "*"):
            stale.unlink()
        if self.config.template_cmd:
            shutil.copyfile(self.config.template_path, self.path)

    def restore(self) -> dict[str, Any]:
        """The template copied into the live file with SQLite's backup API, which takes
        the database's locks like any writer."""
        template = self.config.template_path
        if not (self.config.template_cmd and template.exists()):
            raise ConfigError(
                f"fresh_db has nothing to restore from: set db_reset in "
                f"{self.config.ini_name} (the request that restores the seeded data, e.g. "
                "'db_reset = POST {backend_url}/testing/reset'), or template_db_cmd to "
                "seed a template that is copied back"
            )
        source, target = sqlite3.connect(template), sqlite3.connect(self.path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return {"status": "restored", "template": str(template)}

    def keep(self) -> str:
        return ""  # the file is in the worker's folder

    def close(self) -> None:
        pass

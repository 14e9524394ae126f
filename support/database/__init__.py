"""The database seam: the template's seed, each worker's copy of it, its restore for
``fresh_db``, and what names it to services, for SQLite files and PostgreSQL clones
alike. Imports configuration only."""

from __future__ import annotations

from stackwright.support.database.seam import (
    Database,
    WorkerDatabase,
    claim_private_folder,
    database_for,
    reset_database,
)
from stackwright.support.database.template import publish_template_failure, wait_for_template

__all__ = [
    "Database",
    "WorkerDatabase",
    "claim_private_folder",
    "database_for",
    "publish_template_failure",
    "reset_database",
    "wait_for_template",
]

"""`workbench datasets` read with the standard library's sqlite3, for a fast start.

Importing SQLAlchemy takes ~0.3 s, more than the whole command may. So a SQLite database whose
schema is current is read here, read-only; anything else (no database yet, an older or newer
schema, PostgreSQL, a models file to load, any sqlite3 error) answers None, and the caller takes
the normal path (open_workspace, which creates or migrates the database first, then
store.datasets.list_datasets). Both give the same rows: tests/test_cli_startup.py checks it.

What the normal path also does and this one skips: sweeping a killed process's leftover files and
saving the built-in tasks; neither changes the list, and the next other command does both.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import orjson

from workbench.config import Settings

_SQLITE_PREFIX = "sqlite:///"
# Migrations are appended to migrations.py as `@migration`-decorated functions; that module imports
# SQLAlchemy, so their names are read from its text (a test checks they equal MIGRATIONS).
_MIGRATION = re.compile(r"^@migration\s*\ndef (\w+)\(", re.MULTILINE)
_BUSY_TIMEOUT_S = 30  # as the store's own connections (a writer's commit is short)


@dataclass(frozen=True)
class DatasetRow:
    """A dataset as `workbench datasets` lists it: the fields of store.datasets.DatasetInfo it shows."""

    id: str
    name: str
    format: str
    record_count: int
    id_field: str | None
    title_field: str | None
    subtitle_fields: list[str]
    created_at: str


def migration_names() -> list[str]:
    """The names of the migrations this code applies, in order (read without importing them)."""
    text = (Path(__file__).parent / "migrations.py").read_text(encoding="utf-8")
    return _MIGRATION.findall(text)


def list_datasets(settings: Settings) -> list[DatasetRow] | None:
    """The datasets oldest first, as store.datasets.list_datasets orders them; None: take the normal path."""
    path = _current_sqlite_file(settings)
    if path is None:
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=_BUSY_TIMEOUT_S)
    except (sqlite3.Error, ValueError):
        return None
    try:
        applied = {name for (name,) in conn.execute("SELECT name FROM _migrations")}
        if applied != set(migration_names()):
            return None  # the normal path migrates (or refuses) first
        rows = conn.execute(
            "SELECT id, name, format, record_count, id_field, title_field, subtitle_fields, created_at"
            " FROM datasets ORDER BY created_at, id"
        ).fetchall()
        return [DatasetRow(id, name, fmt, count, id_field, title_field, orjson.loads(subtitles), created_at)
                for id, name, fmt, count, id_field, title_field, subtitles, created_at in rows]
    except (sqlite3.Error, orjson.JSONDecodeError, OSError, ValueError):
        return None  # whatever it is, the normal path says it (or copes)
    finally:
        conn.close()


def _current_sqlite_file(settings: Settings) -> Path | None:
    """The database file, when it is a plain SQLite file the normal path would only read."""
    url = settings.database_url
    if settings.models_file is not None or not url.startswith(_SQLITE_PREFIX) or "?" in url or "%" in url:
        return None  # a models file is loaded (and may be refused); PostgreSQL; URL options or escapes
    path = Path(url.removeprefix(_SQLITE_PREFIX))
    return path if path.is_file() else None  # no file (or `:memory:`): the normal path creates it

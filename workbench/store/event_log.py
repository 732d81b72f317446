"""Writing to the event log, which live pages and cached figures read by increasing id.

A reader remembers the last id it saw and asks for later ones. That is only safe if ids become
visible in order: on PostgreSQL two transactions can take ids 7 and 8 and commit 8 first, and a
reader that saw 8 would never see 7. So writers of events take turns from their insert to their
commit (a transaction-scoped advisory lock; SQLite has one writer at a time anyway). It is the last
lock a transaction takes (see ``db.write_transaction``): taking another after it could deadlock.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from workbench.store.db import driver_insert_sql
from workbench.store.schema import events

_EVENTS_LOCK = 2**40 + 4080  # a fixed id; db.lock() hashes its keys to 64 bits, so they hardly ever meet it


def insert_events(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert events in the caller's transaction, which should commit soon after."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENTS_LOCK})
    # Tuples through the driver's executemany: SQLAlchemy's work per dict row cost more than the insert.
    conn.exec_driver_sql(driver_insert_sql(conn.dialect, events.name, _COLUMNS),
                         [tuple(row[c] for c in _COLUMNS) for row in rows])


_COLUMNS = ("run_id", "type", "payload", "created_at")


def result_event(*, run_id: int, model_id: str, dataset_id: str, seq: int, record_id: str, status: str,
                 error_kind: str | None, now: str) -> dict[str, Any]:
    """A change to one record's result in a run (saved, or removed to be retried): live pages
    refresh the row, the grid's marks recount the record."""
    return {"run_id": run_id, "type": "result", "created_at": now, "payload": orjson.dumps({
        "run_id": run_id, "model_id": model_id, "dataset_id": dataset_id, "seq": seq, "record_id": record_id,
        "status": status, "error_kind": error_kind}).decode()}

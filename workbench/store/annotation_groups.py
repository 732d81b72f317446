"""Annotation groups: one field set on many records at once (a bulk action), and undone together.

A group is written in the caller's one write transaction with batched statements: its events
share ``group_id`` (the group's first event id), the state rows are upserted in batches, and the
live feed hears ONE annotation message for the whole group (pages reload rather than refresh
60K rows). Records whose field already holds the value get no event: undoing the group leaves
them as they were before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.domain.annotations import FIELDS, FLAG_FIELDS
from workbench.domain.errors import Conflict
from workbench.store.db import utcnow
from workbench.store.event_log import insert_events
from workbench.store.schema import RECORD_LEVEL, annotation_events, annotations as annotation_states

_BATCH = 1000  # rows per statement (seqs per IN list, rows per executemany)


class GroupConflict(Conflict):
    pass


@dataclass(frozen=True)
class Change:
    """Set the group's field of one state row (an answer's, or the record's with RECORD_LEVEL)."""

    seq: int
    record_id: str
    run_key: int
    model_id: str
    value: Any
    undoes: int | None = None


def encode_value(field: str, value: Any) -> Any:
    if field in FLAG_FIELDS:
        return int(bool(value))
    if field == "correction":
        return orjson.dumps(value).decode() if value is not None else None
    return value


def decode_value(field: str, value: Any) -> Any:
    if field in FLAG_FIELDS:
        return bool(value)
    if field == "correction":
        return orjson.loads(value) if value else None
    return value


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def lock_dataset(conn: sa.Connection, dataset_id: str, *, shared: bool) -> None:
    """The dataset's annotations lock (PostgreSQL; SQLite's write transaction already excludes other
    writers): every single change takes it shared before its field's lock (annotations._lock_field),
    a group takes it alone. A lock per record would overflow PostgreSQL's lock table at 100K records."""
    if conn.dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    conn.execute(sa.text(f"SELECT {function}(hashtextextended(:key, 0))"), {"key": f"annotations:{dataset_id}"})


def current_values(conn: sa.Connection, dataset_id: str, field: str,
                   keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Any]:
    """(seq, run key) -> the field's current value, for the keys that have a state row: a few by
    their seqs, many as one index range of the run's state rows."""
    by_run: dict[int, list[int]] = {}
    for seq, run_key in keys:
        by_run.setdefault(run_key, []).append(seq)
    state = annotation_states.c
    found: dict[tuple[int, int], Any] = {}
    for run_key, seqs in by_run.items():
        ranged = sa.select(state.seq, state[field]).where(state.dataset_id == dataset_id, state.run_id == run_key)
        if len(seqs) > 10 * _BATCH:
            wanted = set(seqs)
            found.update(((seq, run_key), decode_value(field, value)) for seq, value in conn.execute(ranged)
                         if seq in wanted)
            continue
        seqs.sort()
        for i in range(0, len(seqs), _BATCH):
            for seq, value in conn.execute(ranged.where(state.seq.in_(seqs[i:i + _BATCH]))):
                found[seq, run_key] = decode_value(field, value)
    return found


_EVENT_COLUMNS = ("dataset_id", "seq", "record_id", "model_id", "run_id", "field", "value", "previous", "author",
                  "undoes", "created_at", "group_id")


def _insert_many(conn: sa.Connection, sql: str, width: int, rows: list[tuple]) -> None:
    """``sql`` with {marks} for ``width`` placeholders, run for many rows at the driver (SQLAlchemy's
    per-row parameter handling costs more than the inserts themselves at 100K rows)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = sql.format(marks=", ".join([mark] * width))
    for i in range(0, len(rows), _BATCH):
        conn.exec_driver_sql(statement, rows[i:i + _BATCH])


def write_group(conn: sa.Connection, *, dataset_id: str, field: str, changes: Sequence[Change], author: str,
                current: dict[tuple[int, int], Any] | None = None) -> dict[str, Any]:
    """Append one event per change that changes something, all sharing a group id, and set the state
    rows; the caller holds a write transaction (and, with ``current``, the dataset's lock and the
    fields' values: current_values). Returns {group_id (None: nothing changed), changed}."""
    if field not in FIELDS:  # named in the SQL below
        raise ValueError(f"not an annotation field: {field!r}")
    keys = [(c.seq, c.run_key) for c in changes]
    if current is None:
        lock_dataset(conn, dataset_id, shared=False)
    before = current if current is not None else current_values(conn, dataset_id, field, keys)
    unset = False if field in FLAG_FIELDS else None
    effective = [(c, before.get((c.seq, c.run_key), unset)) for c in changes]
    effective = [(c, previous) for c, previous in effective if previous != c.value]
    if not effective:
        return {"group_id": None, "changed": 0}
    now = utcnow()

    def event_row(change: Change, previous: Any) -> dict[str, Any]:
        return {"dataset_id": dataset_id, "seq": change.seq, "record_id": change.record_id,
                "model_id": change.model_id, "run_id": change.run_key if change.run_key != RECORD_LEVEL else None,
                "field": field, "value": to_json(change.value), "previous": to_json(previous), "author": author,
                "undoes": change.undoes, "created_at": now}

    first, previous = effective[0]
    group_id = conn.execute(annotation_events.insert().values(**event_row(first, previous))).inserted_primary_key[0]  # type: ignore[index]  # noqa: E501
    conn.execute(annotation_events.update().where(annotation_events.c.id == group_id).values(group_id=group_id))
    rest = [(*event_row(c, p).values(), group_id) for c, p in effective[1:]]
    _insert_many(conn, f"INSERT INTO annotation_events ({', '.join(_EVENT_COLUMNS)}) VALUES ({{marks}})",
                 len(_EVENT_COLUMNS), rest)
    other_flags = [name for name in FLAG_FIELDS if name != field]  # NOT NULL: 0 in a new state row
    columns = ["dataset_id", "seq", "run_id", "model_id", "record_id", *other_flags, field, "updated_by", "updated_at"]
    states = [(dataset_id, c.seq, c.run_key, c.model_id, c.record_id, *[0] * len(other_flags),
               encode_value(field, c.value), author, now) for c, _ in effective]
    _insert_many(conn, f"INSERT INTO annotations ({', '.join(columns)}) VALUES ({{marks}}) "
                       f"ON CONFLICT (dataset_id, seq, run_id) DO UPDATE SET {field} = excluded.{field}, "
                       "updated_by = excluded.updated_by, updated_at = excluded.updated_at", len(columns), states)
    undone = first.undoes is not None
    message = {"dataset_id": dataset_id, "seq": first.seq, "record_id": first.record_id, "model_id": first.model_id,
               "field": field, "group_id": group_id, "count": len(effective), "bulk": True, "author": author,
               "undoes_group": undone, "created_at": now}
    insert_events(conn, [{"run_id": None, "type": "annotation", "payload": to_json(message), "created_at": now}])
    return {"group_id": group_id, "changed": len(effective), "first": first, "created_at": now}


def undo_group(conn: sa.Connection, *, dataset_id: str, group_id: int, author: str) -> dict[str, Any]:
    """Undo every event of the group not undone yet, as a new group; records someone changed since
    are left as they are and counted (``changed_since``). Conflict when nothing is left to undo."""
    ev = annotation_events.c
    rows = conn.execute(sa.select(ev.id, ev.seq, ev.record_id, ev.model_id, ev.run_id, ev.field, ev.value,
                                  ev.previous).where(ev.dataset_id == dataset_id, ev.group_id == group_id,
                                                     ev.undoes.is_(None)).order_by(ev.id)).all()
    if not rows:
        raise GroupConflict(f"no annotation group {group_id} in dataset {dataset_id!r}")
    undone = set(conn.execute(sa.select(ev.undoes).where(
        ev.dataset_id == dataset_id, ev.undoes.between(rows[0].id, rows[-1].id))).scalars())
    pending = [r for r in rows if r.id not in undone]
    if not pending:
        raise GroupConflict(f"annotation group {group_id} is undone already")
    field = pending[0].field
    keys = [(r.seq, r.run_id if r.run_id is not None else RECORD_LEVEL) for r in pending]
    lock_dataset(conn, dataset_id, shared=False)
    now_values = current_values(conn, dataset_id, field, keys)
    unset = False if field in FLAG_FIELDS else None
    changes, changed_since = [], 0
    for row, key in zip(pending, keys, strict=True):
        if now_values.get(key, unset) != orjson.loads(row.value):
            changed_since += 1
            continue
        changes.append(Change(row.seq, row.record_id, key[1], row.model_id, orjson.loads(row.previous), row.id))
    if not changes:
        raise GroupConflict(f"all {changed_since:,} records of that bulk action were changed since; not undone")
    written = write_group(conn, dataset_id=dataset_id, field=field, changes=changes, author=author,
                          current=now_values)
    first = written["first"]
    return {"event_id": written["group_id"], "group_id": written["group_id"], "undoes_group": group_id,
            "dataset_id": dataset_id, "seq": first.seq, "record_id": first.record_id, "field": field,
            "count": written["changed"], "changed_since": changed_since, "author": author,
            "created_at": written["created_at"]}

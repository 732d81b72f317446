"""Saved marks of the grid's selections (grid/marks.py), so a first scan happens once per database.

A snapshot is the bytes of one selection's marks and the version of its runs' events they were
computed at. Whoever loads it catches up on the events since, exactly as a server catches up on
the marks it holds in memory. A dataset keeps its ``KEEP`` newest snapshots; deleting the dataset
deletes them (store/datasets.py).
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from workbench.store.db import Store, utcnow, write_transaction
from workbench.store.schema import datasets, mark_snapshots

KEEP = 16  # snapshots per dataset (each a byte per record: 1 MB at a million records)


def load(conn: sa.Connection, key: str) -> tuple[tuple, bytes] | None:
    """(the version, the marks) saved under ``key``, or None."""
    row = conn.execute(sa.select(mark_snapshots.c.version, mark_snapshots.c.marks)
                       .where(mark_snapshots.c.key == key)).first()
    if row is None:
        return None
    try:
        version = orjson.loads(row.version)
    except orjson.JSONDecodeError:
        version = None
    if not isinstance(version, list):
        return None  # not ours to trust: scan again (and save over it)
    return tuple(version), bytes(row.marks)


def save(store: Store, key: str, dataset_id: str, version: tuple, marks: bytes) -> None:
    """Keep ``marks`` as of ``version`` under ``key`` (replacing what was), and the dataset's ``KEEP`` newest."""
    table = mark_snapshots
    with write_transaction(store, f"marks:{dataset_id}") as conn:
        if conn.execute(sa.select(datasets.c.id).where(datasets.c.id == dataset_id)).first() is None:
            return  # deleted while its marks were computed
        conn.execute(table.delete().where(table.c.key == key))
        conn.execute(table.insert().values(key=key, dataset_id=dataset_id, version=orjson.dumps(list(version)).decode(),
                                           marks=marks, saved_at=utcnow()))
        kept = (sa.select(table.c.key).where(table.c.dataset_id == dataset_id)
                .order_by(table.c.saved_at.desc(), table.c.key).limit(KEEP))
        conn.execute(table.delete().where(table.c.dataset_id == dataset_id, ~table.c.key.in_(kept)))


def delete_of_dataset(conn: sa.Connection, dataset_id: str) -> None:
    conn.execute(mark_snapshots.delete().where(mark_snapshots.c.dataset_id == dataset_id))

"""Dataset queries: streaming import (one transaction), listing, renaming, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.domain.datasets import PreparedRecord, RecordPlanner, slugify
from workbench.domain.importers import UnreadableFile, detect_format, read_rows
from workbench.domain.records import DisplayFields
from workbench.store.db import Store, driver_insert_sql, lock, refresh_statistics, try_lock, utcnow, write_transaction
from workbench.store.event_log import insert_events
from workbench.store.faults import is_storage_failure
from workbench.store.mark_snapshots import delete_of_dataset
from workbench.store.schema import annotation_events, datasets, events, records, results, runs
from workbench.store.schema import annotations as annotation_states
from workbench.domain.errors import NotFound

BATCH = 2000


@dataclass(frozen=True)
class DatasetInfo:
    id: str
    name: str
    format: str
    record_count: int
    source_name: str | None
    id_field: str | None
    title_field: str | None
    subtitle_fields: list[str]
    created_at: str

    @classmethod
    def from_row(cls, row: Any) -> "DatasetInfo":
        m = row._mapping
        return cls(
            id=m["id"], name=m["name"], format=m["format"], record_count=m["record_count"],
            source_name=m["source_name"], id_field=m["id_field"], title_field=m["title_field"],
            subtitle_fields=orjson.loads(m["subtitle_fields"]), created_at=m["created_at"],
        )


class DatasetNotFound(NotFound):
    def __init__(self, dataset_id: str):
        super().__init__(f"no dataset {dataset_id!r} (see `workbench datasets`)")


def import_dataset(
    store: Store,
    path: Path,
    *,
    name: str | None = None,
    id_field: str | None = None,
    fmt: str | None = None,
    display: DisplayFields | None = None,
    source_name: str | None = None,
) -> DatasetInfo:
    """Import a file as a new dataset. All or nothing: any problem raises and stores nothing."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFile(f"{path}: no such file")
    fmt = detect_format(path, fmt)
    source_name = source_name or path.name
    name = name or Path(source_name).stem
    planner = RecordPlanner(id_field=id_field, display=display, light=True)
    try:
        with write_transaction(store) as conn:
            dataset_id = _free_id(conn, slugify(name))
            conn.execute(datasets.insert().values(
                id=dataset_id, name=name, source_name=source_name, format=fmt, record_count=0,
                subtitle_fields="[]", created_at=utcnow(),
            ))
            count = 0
            for batch in _batches(planner.plan(read_rows(path, fmt)), dataset_id):
                _insert_records(conn, batch)
                count += len(batch)
            if not planner.ok:
                raise _Refused
            shown = planner.display or DisplayFields()
            conn.execute(datasets.update().where(datasets.c.id == dataset_id).values(
                record_count=count, id_field=planner.id_source, title_field=shown.title_field,
                subtitle_fields=orjson.dumps(list(shown.subtitle_fields)).decode(),
            ))
            _dataset_event(conn, dataset_id, "imported")
    except Exception as failed:  # rolled back; a problem in the file (a duplicate id too) says why
        if not is_storage_failure(failed):  # a full disk is not the file's fault: no second read
            _raise_problems(path, fmt, id_field, display, failed)
        raise
    # A vacuum too, on PostgreSQL (0.1 s more at 200K records): else autovacuum comes for the new
    # rows a minute later, competing with the first look at them.
    refresh_statistics(store, "records", vacuum=True)
    return get_dataset(store, dataset_id)


class _Refused(Exception):
    """The light pass met a problem: the exact pass lists them."""


def _raise_problems(path: Path, fmt: str, id_field: str | None, display: DisplayFields | None,
                    failed: Exception) -> None:
    """After a failed light import (rolled back), the file planned again as before, remembering
    every id: ImportRejected with every problem (line numbers, duplicates) if the file has any."""
    exact = RecordPlanner(id_field=id_field, display=display)
    for _ in exact.plan(read_rows(path, fmt)):
        pass
    if not exact.ok:
        exact.raise_if_rejected()  # the cause: the store's error (a duplicate key) told nothing more
    if isinstance(failed, _Refused):
        raise AssertionError("the light pass found a problem the exact pass did not")


def _dataset_event(conn: sa.Connection, dataset_id: str, action: str) -> None:
    """Pages refresh their dataset list, and cached figures know the data changed."""
    insert_events(conn, [{"run_id": None, "type": "dataset", "created_at": utcnow(),
                          "payload": orjson.dumps({"dataset_id": dataset_id, "action": action}).decode()}])


_RECORD_COLUMNS = ("dataset_id", "seq", "record_id", "title", "subtitle", "data")


def _insert_records(conn: sa.Connection, batch: list[tuple]) -> None:
    """Rows in _RECORD_COLUMNS order, through the driver: COPY on PostgreSQL (about a third of the
    time of batched INSERTs), executemany on SQLite (SQLAlchemy's per-row parameters were ~15%
    of an import)."""
    driver = conn.connection.driver_connection
    assert driver is not None  # an open connection
    dbapi_error = conn.dialect.loaded_dbapi.Error
    statement = driver_insert_sql(conn.dialect, records.name, _RECORD_COLUMNS)
    try:
        if conn.dialect.name == "postgresql":
            with driver.cursor() as cursor:
                with cursor.copy(f"COPY records ({', '.join(_RECORD_COLUMNS)}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
        else:
            driver.executemany(statement, batch)
    except dbapi_error as exc:
        # Wrapped as SQLAlchemy would have: a full disk or a read-only database is then told as a
        # storage problem (503, one line in the CLI), as for every other write.
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi_error) from exc


def _batches(prepared: Iterator[PreparedRecord], dataset_id: str) -> Iterator[list[tuple]]:
    while True:
        chunk = [(dataset_id, r.seq, r.record_id, r.title, r.subtitle, r.data) for r in islice(prepared, BATCH)]
        if not chunk:
            return
        yield chunk


def _free_id(conn: sa.Connection, base: str) -> str:
    """The first of base, base-2, base-3... that no dataset has and no import running now is taking.

    On SQLite the write transaction keeps other imports out. On PostgreSQL they run side by side,
    so each candidate id is claimed with an advisory lock that an import holds until it commits;
    a name taken meanwhile is seen by the look after the lock (it committed before letting go)."""
    taken = set(conn.execute(sa.select(datasets.c.id).where(datasets.c.id.like(f"{base}%"))).scalars())
    n = 1
    while True:
        candidate = base if n == 1 else f"{base}-{n}"
        n += 1
        if candidate in taken or not try_lock(conn, f"dataset:{candidate}"):
            continue
        if conn.execute(sa.select(datasets.c.id).where(datasets.c.id == candidate)).first() is None:
            return candidate


def get_dataset(store: Store, dataset_id: str) -> DatasetInfo:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(datasets).where(datasets.c.id == dataset_id)).first()
    if row is None:
        raise DatasetNotFound(dataset_id)
    return DatasetInfo.from_row(row)


def list_datasets(store: Store) -> list[DatasetInfo]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(datasets).order_by(datasets.c.created_at, datasets.c.id)).all()
    return [DatasetInfo.from_row(r) for r in rows]


def delete_dataset(store: Store, dataset_id: str) -> None:
    """The dataset, its records, runs, results and annotations, in one transaction."""
    run_ids = sa.select(runs.c.id).where(runs.c.dataset_id == dataset_id).scalar_subquery()
    with store.engine.begin() as conn:
        lock(conn, f"marks:{dataset_id}")  # a snapshot being saved (mark_snapshots.save) lands before, or not at all
        # Explicit deletes rather than relying on cascades, which SQLite only honours with foreign_keys on.
        delete_of_dataset(conn, dataset_id)
        conn.execute(results.delete().where(results.c.run_id.in_(run_ids)))
        conn.execute(events.delete().where(events.c.run_id.in_(run_ids)))
        conn.execute(runs.delete().where(runs.c.dataset_id == dataset_id))
        conn.execute(annotation_states.delete().where(annotation_states.c.dataset_id == dataset_id))
        conn.execute(annotation_events.delete().where(annotation_events.c.dataset_id == dataset_id))
        conn.execute(records.delete().where(records.c.dataset_id == dataset_id))
        gone = conn.execute(datasets.delete().where(datasets.c.id == dataset_id)).rowcount
        if not gone:  # raised inside: nothing deleted and no event for a dataset that never was
            raise DatasetNotFound(dataset_id)
        _dataset_event(conn, dataset_id, "deleted")


def rename_dataset(store: Store, dataset_id: str, name: str) -> DatasetInfo:
    """Give the dataset a new display name (its id stays: links and runs keep pointing at it).
    The lock is held from the read to the write, so a delete in between can't be renamed back."""
    with write_transaction(store, f"dataset:{dataset_id}") as conn:
        found = conn.execute(sa.select(datasets.c.id).where(datasets.c.id == dataset_id)).first()
        if found is None:
            raise DatasetNotFound(dataset_id)
        conn.execute(datasets.update().where(datasets.c.id == dataset_id).values(name=name))
        _dataset_event(conn, dataset_id, "renamed")
    return get_dataset(store, dataset_id)


@dataclass(frozen=True)
class StoredRecord:
    seq: int
    record_id: str
    title: str
    subtitle: str
    data: dict[str, Any]


def iter_records(store: Store, dataset_id: str, *, after_seq: int = 0, limit: int | None = None,
                 batch: int = 1000) -> Iterator[StoredRecord]:
    """Records in file order, fetched in keyset pages so memory stays flat."""
    yielded = 0
    while limit is None or yielded < limit:
        size = batch if limit is None else min(batch, limit - yielded)
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(records.c.seq, records.c.record_id, records.c.title, records.c.subtitle, records.c.data)
                .where(records.c.dataset_id == dataset_id, records.c.seq > after_seq)
                .order_by(records.c.seq).limit(size)
            ).all()
        if not rows:
            return
        for row in rows:
            yield StoredRecord(row.seq, row.record_id, row.title, row.subtitle, orjson.loads(row.data))
        yielded += len(rows)
        after_seq = rows[-1].seq


def get_record(store: Store, dataset_id: str, record_id: str) -> StoredRecord | None:
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(records.c.seq, records.c.record_id, records.c.title, records.c.subtitle, records.c.data)
            .where(records.c.dataset_id == dataset_id, records.c.record_id == record_id)
        ).first()
    return StoredRecord(row.seq, row.record_id, row.title, row.subtitle, orjson.loads(row.data)) if row else None

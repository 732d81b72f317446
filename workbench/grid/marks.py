"""A byte per record for one selection of the grid, kept current as results land.

Computing something about every record (does it count, do the models differ, how contested is
it) is a scan of the dataset. Results change only through the runs' writes, and every write
leaves an event with its records' seqs. So each kind of mark is computed once per selection,
then recomputed only for the records named by the selected runs' new events.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from workbench.grid.selection import GridQuery, Joins, search_condition
from workbench.store import mark_snapshots as snapshots
from workbench.store.db import Store, postgres_settings, store_cache
from workbench.store.schema import datasets, events, records, runs

log = logging.getLogger(__name__)
MarkExpression = Callable[[Joins], sa.ColumnElement]  # a byte per record, in SQL
_MAX_TOUCHED = 20_000  # beyond this many new results since last time, rescanning is cheaper
_BATCH = 1000  # seqs per IN list
_PIECES = max(2, min(4, os.cpu_count() or 2))  # a first scan is cut in this many, read at once
# For a piece on PostgreSQL: compiling it for JIT costs more than it saves, the pieces already use
# the cores, and the sort of a piece fits in memory. The driving range comes in seq order, so
# merging the other runs' ranges into it beats building hash tables (a quarter quicker here).
POSTGRES_SCAN_SETTINGS = ("jit = off", "max_parallel_workers_per_gather = 0", "work_mem = '32MB'",
                          "enable_hashjoin = off")


@dataclass
class _Marks:
    version: tuple
    marks: bytearray
    saved_as: str  # its snapshot's key (_snapshot_key)


class MarkCache:
    """The marks of a store's recent selections (a byte per record each, at most ``MAX_SELECTIONS``)."""

    MAX_SELECTIONS = 64
    MAX_SEARCHES = 16
    SNAPSHOT_MIN_RECORDS = 50_000  # smaller datasets scan in a few tens of ms: not worth a write

    def __init__(self) -> None:
        self._searches: dict[tuple, bytes] = {}  # (dataset, its creation, q) -> a byte per record
        self._entries: dict[tuple, _Marks] = {}
        self._locks: dict[tuple, threading.Lock] = {}  # one per selection: a first scan holds up only its own
        self._lock = threading.Lock()  # guards the two dicts
        self.saving: list[threading.Thread] = []
        self._saved_at: dict[str, float] = {}  # snapshot key -> when this process last saved it (monotonic)

    def marks(self, conn: sa.Connection, store: Store, query: GridQuery, kind: str, mark: MarkExpression) -> bytes:
        # Marks never depend on the filter, the sort, the rows on screen or the order of the models.
        query = dataclasses.replace(query, filter="all", seqs=None, sort="record", within=None)
        if query.q:
            # A search only says which records match (bit 0 of every kind of mark): the marks of the
            # same selection without it, with bit 0 cleared for the others. Records never change,
            # so a search's matches are read once (the records alone, none of the results' joins).
            unsearched = self.marks(conn, store, dataclasses.replace(query, q=None), kind, mark)
            return _only_matching(unsearched, self._matches(conn, store, query))
        joins = Joins(query, store.dialect)
        key = (kind, query.dataset_id, tuple(sorted(query.run_ids.items())), query.q, query.diff_field,
               tuple(query.verdicts or ()))
        with self._lock:
            if len(self._entries) >= self.MAX_SELECTIONS and key not in self._entries:
                self._entries.clear()
                self._locks.clear()  # a thread still holding an old lock just computes the same marks
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            # The version is read before the marks: a result landing in between is seen twice, and
            # recomputing a record's mark from the current rows gives the same both times.
            version = _results_version(conn, query)
            entry = self._entries.get(key)
            saved_as = entry.saved_as if entry is not None else _snapshot_key(store, joins, mark, key)
            if entry is None:  # this process's first look: perhaps another one saved these marks
                saved = snapshots.load(conn, saved_as)
                if saved is not None and len(saved[0]) == len(version):  # else not these runs' version
                    entry = _Marks(saved[0], bytearray(saved[1]), saved_as)
            if entry is None or entry.version[0] != version[0]:
                entry = self._scanned(store, joins, mark, version, saved_as)
            elif entry.version != version:
                touched = _touched_records(conn, query, entry.version, version)
                if touched is None:
                    entry = self._scanned(store, joins, mark, version, saved_as)
                else:
                    _remark(conn, joins, mark(joins), entry.marks, touched)
                entry.version = version
            with self._lock:
                self._entries[key] = entry
            return bytes(entry.marks)

    def _scanned(self, store: Store, joins: Joins, mark: MarkExpression, version: tuple, saved_as: str) -> _Marks:
        """The selection's marks from a scan of the dataset, saved (in the background) for the next
        process when the dataset is big enough for a scan to be felt."""
        entry = _Marks(version, _all_marks(store, joins, mark), saved_as)
        now = time.monotonic()
        # Rescans follow each other while a run writes faster than 20,000 results between looks:
        # one save a minute per selection is enough to spare the next start most of a scan.
        if len(entry.marks) >= self.SNAPSHOT_MIN_RECORDS and now - self._saved_at.get(saved_as, -60.0) >= 60.0:
            self._saved_at[saved_as] = now
            thread = threading.Thread(target=_save, args=(store, saved_as, joins.query.dataset_id, version,
                                                          bytes(entry.marks)), name="marks-snapshot", daemon=True)
            self.saving = [t for t in self.saving if t.is_alive()] + [thread]
            thread.start()
        return entry

    def wait_for_saves(self) -> None:
        """Until the snapshots being saved are (tests; a server doesn't wait)."""
        while self.saving:
            self.saving.pop().join()

    def _matches(self, conn: sa.Connection, store: Store, query: GridQuery) -> bytes:
        created = conn.execute(sa.select(datasets.c.created_at).where(datasets.c.id == query.dataset_id)).scalar()
        key = (query.dataset_id, created, query.q)
        found = self._searches.get(key)
        if found is None:
            found = _search_mask(store, query)
            with self._lock:
                if len(self._searches) >= self.MAX_SEARCHES:
                    self._searches.clear()
                self._searches[key] = found
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._locks.clear()
            self._searches.clear()


def mark_cache(store: Store) -> MarkCache:
    """The store's MarkCache, made on first use."""
    return store_cache(store, "grid.marks", MarkCache)


def record_marks(conn: sa.Connection, store: Store, query: GridQuery, kind: str, mark: MarkExpression) -> bytes:
    """marks[seq] for every record of the selection (0 past the end); ``kind`` names ``mark``."""
    return mark_cache(store).marks(conn, store, query, kind, mark)


def forget(store: Store) -> None:
    """Drop the store's marks: the next count or contested page scans again."""
    mark_cache(store).clear()


def _statement(joins: Joins, mark: sa.ColumnElement, seqs: tuple[int, int] | None = None):
    """(seq, mark) of the selection's records, or of those from first to last with ``seqs``."""
    statement = sa.select(joins.seq, mark).select_from(joins.from_clause(seqs)).where(joins.in_dataset())
    return statement if seqs is None else statement.where(joins.seq.between(*seqs))


def _all_marks(store: Store, joins: Joins, mark: MarkExpression) -> bytearray:
    """Every record's mark, the dataset cut in pieces read at once on their own connections (the
    joins are the cost; each piece's marks come back as one string, not a row per record)."""
    query = joins.query
    with store.engine.connect() as conn:
        bounds = sa.select(sa.func.min(records.c.seq), sa.func.max(records.c.seq), sa.func.count())
        low, high, count = conn.execute(bounds.where(records.c.dataset_id == query.dataset_id)).one()
        if not count:
            return bytearray()
        if high - low + 1 != count:  # seqs are 1..N after an import; anything else is read row by row
            marks = bytearray(high + 1)
            _put(marks, conn.execute(_statement(joins, mark(joins))))
            return marks
        driver = _likely_complete_run(conn, query, count)
    driven = joins if driver is None else Joins(query, store.dialect, driver)

    def piece(first: int, last: int) -> str:
        text = _marks_text(store, driven, mark(driven), first, last)
        if len(text) != last - first + 1:  # the driving run lacks some of these records after all
            text = _marks_text(store, joins, mark(joins), first, last)
        return text

    cuts = [low + count * i // _PIECES for i in range(_PIECES + 1)]
    with ThreadPoolExecutor(_PIECES) as pool:
        pieces = list(pool.map(piece, cuts[:-1], [cut - 1 for cut in cuts[1:]]))
    # Each mark came as the character mark + 1 (PostgreSQL strings can't hold a NUL).
    return bytearray(low) + "".join(pieces).translate(_DOWN_ONE).encode("latin-1")


_DOWN_ONE = {code: code - 1 for code in range(1, 257)}


_MATCHING, _NOT_MATCHING = 0xFF, 0xFE  # a search mask's bytes: ANDed with a mark, they keep or clear bit 0


def _search_mask(store: Store, query: GridQuery) -> bytes:
    """mask[seq] = 0xFF for a record matching ``query.q``, else 0xFE, read in pieces at once as strings."""
    condition = search_condition(query.q or "", store.dialect)
    with store.engine.connect() as conn:
        bounds = sa.select(sa.func.min(records.c.seq), sa.func.max(records.c.seq), sa.func.count())
        low, high, count = conn.execute(bounds.where(records.c.dataset_id == query.dataset_id)).one()
        if not count:
            return b""
        if high - low + 1 != count:  # a gap in the seqs: the matching ones, row by row
            mask = bytearray([_NOT_MATCHING]) * (high + 1)
            for seq in conn.execute(sa.select(records.c.seq).where(records.c.dataset_id == query.dataset_id,
                                                                   condition)).scalars():
                mask[seq] = _MATCHING
            return bytes(mask)
    in_dataset = records.c.dataset_id == query.dataset_id
    flag = sa.case((condition, _MATCHING - _NOT_MATCHING), else_=0)

    def piece(first: int, last: int) -> str:
        return _text_of(store, sa.select(records.c.seq, flag).where(in_dataset, records.c.seq.between(first, last)))

    cuts = [low + count * i // _PIECES for i in range(_PIECES + 1)]
    with ThreadPoolExecutor(_PIECES) as pool:
        flags = "".join(pool.map(piece, cuts[:-1], [cut - 1 for cut in cuts[1:]]))
    return bytes([_NOT_MATCHING]) * low + flags.translate(_UP_TO_MASK).encode("latin-1")


_UP_TO_MASK = {1: _NOT_MATCHING, 2: _MATCHING}


def _only_matching(marks: bytes, mask: bytes) -> bytes:
    """``marks`` with bit 0 cleared where ``mask`` says the record doesn't match (a byte-wise AND)."""
    size = len(marks)
    mask = mask[:size] + bytes([_NOT_MATCHING]) * (size - len(mask))
    return (int.from_bytes(marks, "little") & int.from_bytes(mask, "little")).to_bytes(size, "little")


def _likely_complete_run(conn: sa.Connection, query: GridQuery, count: int) -> str | None:
    """A selected model whose run has answered every record by its counter (a finished run,
    usually): it can drive the scan. Only a hint; each piece checks it by its length."""
    if query.q or not query.run_ids:
        return None
    row = conn.execute(sa.select(runs.c.id).where(runs.c.id.in_(list(query.run_ids.values())), runs.c.done >= count)
                       .order_by(runs.c.done.desc()).limit(1)).first()
    return None if row is None else next(m for m, run_id in query.run_ids.items() if run_id == row.id)


def _marks_text(store: Store, joins: Joins, mark: sa.ColumnElement, first: int, last: int) -> str:
    return _text_of(store, _statement(joins, mark, (first, last)))


def _text_of(store: Store, statement: sa.Select) -> str:
    """The (seq, value) rows of ``statement`` as one string, a character value + 1 per row in seq order."""
    ordered = statement.order_by(statement.selected_columns[0]).subquery()
    value = ordered.c[ordered.c.keys()[1]]
    if store.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        text = sa.func.string_agg(sa.func.chr(value + 1), aggregate_order_by(sa.literal_column("''"), ordered.c.seq))
    else:  # SQLite keeps a subquery's order in group_concat
        text = sa.func.group_concat(sa.func.char(value + 1), "")
    with store.engine.connect() as conn:
        postgres_settings(conn, *POSTGRES_SCAN_SETTINGS)
        return conn.execute(sa.select(text)).scalar() or ""


def _remark(conn: sa.Connection, joins: Joins, mark: sa.ColumnElement, marks: bytearray, seqs: list[int]) -> None:
    for i in range(0, len(seqs), _BATCH):
        _put(marks, conn.execute(_statement(joins, mark).where(joins.seq.in_(seqs[i:i + _BATCH]))))


def _put(marks: bytearray, rows) -> None:
    """Store (seq, mark) rows, growing ``marks`` for records past its end."""
    for seq, value in rows:
        if seq >= len(marks):
            marks.extend(bytes(seq + 1 - len(marks)))
        marks[seq] = value


def _snapshot_key(store: Store, joins: Joins, mark: MarkExpression, key: tuple) -> str:
    """A snapshot's name: the selection and kind (``key``) and the mark's SQL, so marks computed by
    another version of this code, or on another dialect, are never taken for these."""
    compiled = _statement(joins, mark(joins)).compile(dialect=store.engine.dialect)
    # The mark's constants (its bits, its weights) are bound parameters, not in the SQL's text.
    params = sorted([name, value] for name, value in compiled.params.items())
    return hashlib.sha256(orjson.dumps([list(key), str(compiled), params], default=str)).hexdigest()


def _save(store: Store, key: str, dataset_id: str, version: tuple, marks: bytes) -> None:
    try:
        snapshots.save(store, key, dataset_id, version, marks)
    except Exception as exc:  # noqa: BLE001 - a busy, full or read-only database: the next process scans again
        log.warning("the marks of dataset %s were not saved: %s", dataset_id, exc)


def _results_version(conn: sa.Connection, query: GridQuery) -> tuple:
    """(the dataset's creation time, then each selected run's latest event id): every result
    write, retry or state change of a run writes an event. One index probe per run."""
    latest = [sa.select(sa.func.max(events.c.id)).where(events.c.run_id == run_id).scalar_subquery()
              for run_id in sorted(query.run_ids.values())]  # the key's order, whatever the models' order
    created = sa.select(datasets.c.created_at).where(datasets.c.id == query.dataset_id).scalar_subquery()
    return tuple(conn.execute(sa.select(created, *latest)).one())


def _touched_records(conn: sa.Connection, query: GridQuery, old: tuple, new: tuple) -> list[int] | None:
    """Records whose results changed in the selected runs since ``old`` (new results, or error
    results removed to be retried: both are result events); None when a rescan is cheaper."""
    touched: set[int] = set()
    for run_id, since, until in zip(sorted(query.run_ids.values()), old[1:], new[1:], strict=True):
        if since == until:
            continue
        if until is None or (since is not None and until < since):  # events removed
            return None
        since = since or 0  # no event before: the run had no result either (results come with events)
        rows = conn.execute(sa.select(events.c.type, events.c.payload).where(
            events.c.run_id == run_id, events.c.id > since, events.c.id <= until).limit(_MAX_TOUCHED + 1)).all()
        if len(rows) > _MAX_TOUCHED:
            return None
        for kind, payload in rows:
            if kind == "result":
                touched.add(orjson.loads(payload)["seq"])
            elif kind not in ("progress", "run_state"):
                return None  # an event this doesn't know: be safe
    return sorted(touched)

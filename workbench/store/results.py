"""Results, the response cache and the event log: the runner's hot path, written in batches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.store.db import Store, driver_insert_sql, utcnow
from workbench.store.event_log import insert_events, result_event
from workbench.store.runs import OWNER, renew_lease_values
from workbench.store.schema import events, records, response_cache, results, runs


@dataclass(frozen=True)
class PendingRecord:
    seq: int
    record_id: str
    data: dict[str, Any]


@dataclass
class ResultRow:
    seq: int
    record_id: str
    status: str  # "ok" | "error"
    output: dict[str, Any] | None
    error_kind: str | None
    error_message: str | None
    raw_text: str | None
    latency_ms: float | None
    tokens_in: int
    tokens_out: int
    attempts: int
    cached: bool
    verdict_key: str | None = None
    primary_verdict: str | None = None
    finish_reason: str | None = None  # why the model stopped, when it said

    def as_row(self, run_id: int, now: str) -> dict[str, Any]:
        return dict(zip(RESULT_COLUMNS, self.as_values(run_id, now), strict=True))

    def as_values(self, run_id: int, now: str) -> tuple:
        """The row's values in ``RESULT_COLUMNS`` order (what the driver is given)."""
        return (run_id, self.seq, self.record_id, self.status,
                orjson.dumps(self.output).decode() if self.output is not None else None,
                self.error_kind, self.error_message, self.raw_text, self.latency_ms, self.tokens_in, self.tokens_out,
                self.attempts, int(self.cached), now, self.verdict_key, self.primary_verdict, self.finish_reason)


RESULT_COLUMNS = ("run_id", "seq", "record_id", "status", "output", "error_kind", "error_message", "raw_text",
                  "latency_ms", "tokens_in", "tokens_out", "attempts", "cached", "created_at", "verdict_key",
                  "primary_verdict", "finish_reason")
CACHE_COLUMNS = ("key", "text", "tokens_in", "tokens_out", "created_at")


def _insert_ignore_many(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT .. ON CONFLICT DO NOTHING of tuples through the driver's executemany: SQLAlchemy's
    per-row work on a list of dicts (keys, bind parameters) cost more than SQLite's insert itself."""
    conn.exec_driver_sql(driver_insert_sql(conn.dialect, table.name, columns, ignore_conflicts=True), rows)


def pending_records(store: Store, dataset_id: str, run_id: int, *, after_seq: int, max_seq: int | None,
                    limit: int) -> list[PendingRecord]:
    """The next records (by seq) with no result in this run: a keyset page, so resuming is cheap."""
    has_result = sa.exists().where(results.c.run_id == run_id, results.c.seq == records.c.seq)
    query = (
        sa.select(records.c.seq, records.c.record_id, records.c.data)
        .where(records.c.dataset_id == dataset_id, records.c.seq > after_seq, ~has_result)
        .order_by(records.c.seq).limit(limit)
    )
    if max_seq is not None:
        query = query.where(records.c.seq <= max_seq)
    with store.engine.connect() as conn:
        return [PendingRecord(r.seq, r.record_id, orjson.loads(r.data)) for r in conn.execute(query)]


def cached_answers(store: Store, keys: Iterable[str]) -> dict[str, tuple[str, int, int]]:
    keys = list(set(keys))
    if not keys:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(response_cache.c.key, response_cache.c.text, response_cache.c.tokens_in,
                      response_cache.c.tokens_out).where(response_cache.c.key.in_(keys))
        ).all()
    return {r.key: (r.text, r.tokens_in or 0, r.tokens_out or 0) for r in rows}


@dataclass
class RunUpdate:
    """What one flush changes for one run."""

    run_id: int
    rows: list[ResultRow]
    cache_entries: list[tuple[str, str, int, int]]
    progress: dict[str, Any]  # absolute counters + rates, also sent as the progress event
    counters: bool = True  # False: only the rows (and their events), e.g. when saving rows one at a time


def write_batch(store: Store, updates: list[RunUpdate]) -> None:
    """Results, cache entries, counters and events of several runs in one transaction.

    Lock order (see ``db.write_transaction``): every row first, runs by id (a result's row locks its
    run's row too), cache entries by key, so two writers take them in one order; the event log's
    lock once, last. Locking it between two runs' rows deadlocks with a pause, claim or retry of
    the second run, which holds that run's row and then waits for the event log."""
    now = utcnow()
    event_rows: list[dict[str, Any]] = []
    cache_entries: dict[str, tuple[str, int, int]] = {}
    with store.engine.begin() as conn:
        for update in sorted(updates, key=lambda u: u.run_id):
            rows = sorted(update.rows, key=lambda r: r.seq)
            if rows:
                _insert_ignore_many(conn, results, RESULT_COLUMNS, [r.as_values(update.run_id, now) for r in rows])
            p = update.progress
            if update.counters:
                # Counters and lease are the owner's: a process that lost the run keeps its answers
                # (inserted once) but not its say.
                owned = sa.or_(runs.c.lease_owner.is_(None), runs.c.lease_owner == OWNER)
                conn.execute(runs.update().where(runs.c.id == update.run_id, owned).values(
                    done=p["done"], errors=p["errors"], tokens_in=p["tokens_in"], tokens_out=p["tokens_out"],
                    cost=p["cost"], active_seconds=p["active_seconds"], **renew_lease_values(),
                ))
            event_rows += [result_event(run_id=update.run_id, model_id=p["model_id"], dataset_id=p["dataset_id"],
                                        seq=r.seq, record_id=r.record_id, status=r.status, error_kind=r.error_kind,
                                        now=now)
                           for r in update.rows]
            if update.counters:
                event_rows.append({"run_id": update.run_id, "type": "progress", "created_at": now,
                                   "payload": orjson.dumps(p).decode()})
            for key, text, tokens_in, tokens_out in update.cache_entries:
                cache_entries.setdefault(key, (text, tokens_in, tokens_out))
        if cache_entries:
            _insert_ignore_many(conn, response_cache, CACHE_COLUMNS,
                                [(k, t, ti, to, now) for k, (t, ti, to) in sorted(cache_entries.items())])
        insert_events(conn, event_rows)


def run_exists(store: Store, run_id: int) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is not None


def add_event(store: Store, run_id: int | None, kind: str, payload: dict[str, Any]) -> None:
    with store.engine.begin() as conn:
        insert_events(conn, [{"run_id": run_id, "type": kind, "payload": orjson.dumps(payload).decode(),
                              "created_at": utcnow()}])


def events_after(store: Store, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.id, events.c.type, events.c.run_id, events.c.payload).where(events.c.id > after_id)
            .order_by(events.c.id).limit(limit)
        ).all()
    return [{"run_id": r.run_id, **orjson.loads(r.payload), "id": r.id, "type": r.type} for r in rows]


def latest_progress(store: Store, run_id: int) -> dict[str, Any] | None:
    with store.engine.connect() as conn:
        payload = conn.execute(
            sa.select(events.c.payload).where(events.c.run_id == run_id, events.c.type == "progress")
            .order_by(events.c.id.desc()).limit(1)
        ).scalar()
    return orjson.loads(payload) if payload else None


def last_event_id(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))).scalar_one()


def run_results(store: Store, run_id: int) -> list[dict[str, Any]]:
    """All results of a run (small runs and tests; exports stream instead)."""
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(results).where(results.c.run_id == run_id).order_by(results.c.seq))]


def result_at(store: Store, run_id: int, seq: int) -> dict[str, Any] | None:
    """One result of a run (by the record's seq), as stored; None when it has none yet."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(results).where(results.c.run_id == run_id, results.c.seq == seq)).first()
    return dict(row._mapping) if row is not None else None

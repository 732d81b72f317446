"""Batched, serial writes of results for every run in the process.

One writer per process keeps SQLite to a single writer; a batch every
~100 ms bounds what a crash can lose to the last batch plus requests in
flight, which are simply redone on resume.

A store slower than the model (a big database, a busy disk, a machine shared) makes answers wait
for it: workers ask ``room()`` before taking a record, so at most ``max_held`` results are held
unsaved (about 2 KB each) instead of every answer of the run queueing here.

One bad result never stops other work: a batch that fails for a reason other
than storage (a value the store refuses, a run deleted with its dataset) is
written again run by run, then row by row, so only the bad rows become errors
and only a deleted run's rows are dropped. Only a storage failure (disk full,
read-only, database gone) pauses the runs of the batch.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Protocol

import sqlalchemy as sa

from workbench.domain.outputs import INVALID_RESPONSE, keep_raw
from workbench.providers.completion import MAX_TOKEN_COUNT
from workbench.store import Store
from workbench.store.faults import is_storage_failure
from workbench.store.results import ResultRow, RunUpdate, run_exists
from workbench.store.results import write_batch as _write_batch

log = logging.getLogger(__name__)


class Source(Protocol):
    run_id: int

    def snapshot(self) -> dict: ...

    def storage_failed(self, exc: Exception) -> None: ...

    def result_replaced(self, old: ResultRow, new: ResultRow) -> None: ...

    def run_gone(self) -> None: ...

    def internal_failure(self, where: str, exc: BaseException) -> None: ...


_TRANSIENT = frozenset({"40P01", "40001"})  # PostgreSQL: deadlock detected, serialization failure
_TRANSIENT_TRIES = 3


def write_batch(store: Store, updates: list[RunUpdate]) -> None:
    """``results.write_batch``, tried again when PostgreSQL aborted it to break a lock conflict: that
    is a conflict with another transaction, not a failure of the store (which would pause runs)."""
    for attempt in range(_TRANSIENT_TRIES):
        try:
            return _write_batch(store, updates)
        except sa.exc.DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in _TRANSIENT or attempt == _TRANSIENT_TRIES - 1:
                raise
            log.info("a batch of results met a lock conflict (%s); writing it again", sqlstate)


@dataclass
class _Outcome:
    """What writing one run's update apart came to (applied to its source in the loop thread)."""

    update: RunUpdate
    storage: Exception | None = None
    gone: bool = False
    broken: Exception | None = None  # even the run's counters can't be saved
    replaced: list[tuple[ResultRow, ResultRow]] = field(default_factory=list)


class ResultWriter:
    def __init__(self, store: Store, interval_s: float = 0.25, max_batch: int = 2000, max_held: int = 4000):
        self.store = store
        self.interval_s = interval_s
        self.max_batch = max_batch
        self.max_held = max_held  # results answered but not yet saved: past it, workers wait for the store
        self._rows: dict[int, list[ResultRow]] = {}
        self._cache: dict[int, list[tuple[str, str, int, int]]] = {}
        self._sources: dict[int, Source] = {}
        self._dirty: set[int] = set()
        self._gone: set[int] = set()  # runs deleted while running: nothing more is written for them
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._pending = 0
        self._writing = 0  # rows of the batch being written
        self._room = asyncio.Event()
        self._progress: dict[int, dict] = {}  # each run's last figures

    def held(self) -> int:
        """Results answered and not yet saved: queued here, or in the batch being written."""
        return self._pending + self._writing

    async def room(self) -> None:
        """Return once fewer than ``max_held`` results are held unsaved (at once, normally)."""
        while self.held() >= self.max_held:
            self._room.clear()
            self._wake.set()
            await self._room.wait()

    def forget(self, run_id: int) -> None:
        """The run ended: drop what is kept about it (a long-lived serve runs many). Rows still queued
        (none, once the run's last flush is done) keep it known until they are written."""
        if run_id in self._dirty or self._rows.get(run_id) or self._cache.get(run_id):
            return
        for kept in (self._sources, self._progress, self._rows, self._cache):
            kept.pop(run_id, None)
        self._gone.discard(run_id)

    def add(self, source: Source, row: ResultRow | None, cache_entry: tuple[str, str, int, int] | None = None) -> None:
        """Queue a result (or just a progress change, with row=None) for the next batch."""
        run_id = source.run_id
        if run_id in self._gone:
            return
        self._sources[run_id] = source
        self._dirty.add(run_id)
        if row is not None:
            self._rows.setdefault(run_id, []).append(row)
            self._pending += 1
        if cache_entry is not None:
            self._cache.setdefault(run_id, []).append(cache_entry)
        if self._pending >= self.max_batch:
            self._wake.set()

    async def flush(self) -> None:
        async with self._lock:
            if await self._flush():
                await self._flush()  # counters corrected after rows were refused: saved now, not later

    async def _flush(self) -> bool:
        """One batch; True when rows were replaced by errors, so the counters need saving again.
        Whatever happens in it, workers waiting for room are woken after it."""
        try:
            return await self._flush_batch()
        finally:
            self._writing = 0
            if not self._dirty:  # nothing queued (a deleted run's rows are dropped, not written)
                self._pending = 0
            self._room.set()

    async def _flush_batch(self) -> bool:
        if not self._dirty:
            return False
        # Taking rows and counters together, in the loop thread, keeps them consistent.
        updates = []
        for run_id in sorted(self._dirty):
            rows, cache = self._rows.pop(run_id, []), self._cache.pop(run_id, [])
            try:
                progress = self._sources[run_id].snapshot()
            except Exception as exc:  # noqa: BLE001 - a bug of that run's: it fails, the others are saved
                self._sources[run_id].internal_failure("taking its figures", exc)
                last = self._progress.get(run_id)
                if last is not None:  # its finished results are kept; a resume recounts the figures
                    updates.append(RunUpdate(run_id, rows, cache, last, counters=False))
                elif rows:  # nothing to file them under: they stay pending, asked again on resume
                    log.error("run %s: %d results not saved (its figures can't be taken); they are redone "
                              "when it is resumed", run_id, len(rows))
                continue
            self._progress[run_id] = progress
            updates.append(RunUpdate(run_id, rows, cache, progress))
        self._dirty.clear()
        self._pending, self._writing = 0, sum(len(u.rows) for u in updates)
        return await self._write(updates)

    async def _write(self, updates: list[RunUpdate]) -> bool:
        try:
            await asyncio.to_thread(write_batch, self.store, updates)
            return False
        except Exception as exc:  # noqa: BLE001 - sorted out below, whatever it is
            if is_storage_failure(exc):  # disk full, read-only, database gone
                log.error("could not write results: %s", exc)
                for update in updates:
                    self._sources[update.run_id].storage_failed(exc)
                return False
            log.warning("a batch of results was refused (%s: %s); writing it row by row",
                        type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
        try:
            outcomes = await asyncio.to_thread(_write_apart, self.store, updates)
        except Exception as exc:  # noqa: BLE001 - the store went away meanwhile, or worse
            outcomes = [_Outcome(u, storage=exc) if is_storage_failure(exc) else _Outcome(u, broken=exc)
                        for u in updates]
        for outcome in outcomes:
            self._settle(outcome)
        return any(o.replaced for o in outcomes)

    def _settle(self, outcome: _Outcome) -> None:
        run_id = outcome.update.run_id
        source = self._sources.get(run_id)
        if source is None:  # forgotten meanwhile (it ended): nobody to tell
            return
        if outcome.storage is not None:
            source.storage_failed(outcome.storage)
        elif outcome.gone:
            self._gone.add(run_id)
            self._rows.pop(run_id, None)
            self._cache.pop(run_id, None)
            self._dirty.discard(run_id)
            source.run_gone()
        elif outcome.broken is not None:
            source.internal_failure("saving results", outcome.broken)
        if outcome.replaced:
            for old, new in outcome.replaced:
                source.result_replaced(old, new)
            if run_id not in self._gone:
                self._dirty.add(run_id)  # the counters changed: save them with the next batch

    async def run_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - the writer serves every run: it must not stop
                log.exception("the result writer failed; trying again at the next beat")


def _write_apart(store: Store, updates: list[RunUpdate]) -> list[_Outcome]:
    """Each run's update alone; a run whose update is refused has its rows written one by one."""
    outcomes = []
    for update in updates:
        outcome = _Outcome(update)
        outcomes.append(outcome)
        try:
            write_batch(store, [update])
            continue
        except Exception as exc:  # noqa: BLE001
            if is_storage_failure(exc):
                outcome.storage = exc
                continue
        if not run_exists(store, update.run_id):  # deleted (with its dataset) while it ran
            outcome.gone = True
            continue
        try:
            _write_rows_apart(store, update, outcome)
        except Exception as exc:  # noqa: BLE001
            if is_storage_failure(exc):
                outcome.storage = exc
            else:
                outcome.broken = exc
    return outcomes


def _write_rows_apart(store: Store, update: RunUpdate, outcome: _Outcome) -> None:
    rows_only = replace(update, rows=[], cache_entries=[], counters=False)
    for row in update.rows:
        try:
            write_batch(store, [replace(rows_only, rows=[row])])
            continue
        except Exception as exc:  # noqa: BLE001
            if is_storage_failure(exc):
                raise
            refused: Exception = exc
        for make in (unsaveable_result, bare_error):
            try:
                saveable = make(row, refused)
                write_batch(store, [replace(rows_only, rows=[saveable])])
            except Exception as exc:  # noqa: BLE001
                if is_storage_failure(exc):
                    raise
                refused = exc
                continue
            outcome.replaced.append((row, saveable))
            break
        else:  # even a bare error is refused: not the row's fault, a real failure
            raise refused
    for entry in update.cache_entries:  # one the store refuses is simply not cached
        try:
            write_batch(store, [replace(rows_only, cache_entries=[entry])])
        except Exception as exc:  # noqa: BLE001
            if is_storage_failure(exc):
                raise
    write_batch(store, [replace(update, rows=[], cache_entries=[])])


def unsaveable_result(row: ResultRow, exc: BaseException) -> ResultRow:
    """The error a result becomes when the store refuses it: only values any store holds."""
    reason = str(exc).splitlines()[0] if str(exc).strip() else ""
    return replace(
        bare_error(row), error_message=keep_raw(f"the answer could not be saved ({type(exc).__name__}: {reason})",
                                                cap=1000),
        raw_text=keep_raw(row.raw_text) if isinstance(row.raw_text, str) else None,
        latency_ms=row.latency_ms if isinstance(row.latency_ms, float) and math.isfinite(row.latency_ms) else None,
        tokens_in=_count(row.tokens_in), tokens_out=_count(row.tokens_out), cached=bool(row.cached),
        finish_reason=keep_raw(row.finish_reason, cap=64) if isinstance(row.finish_reason, str) else None,
    )


def bare_error(row: ResultRow, exc: BaseException | None = None) -> ResultRow:
    """The least a result can become when the store refuses even its error: no text from outside."""
    return ResultRow(
        seq=row.seq, record_id=row.record_id, status="error", output=None, error_kind=INVALID_RESPONSE,
        error_message="the answer could not be saved", raw_text=None, latency_ms=None, tokens_in=0, tokens_out=0,
        attempts=_count(row.attempts), cached=False,
    )


def _count(value: object) -> int:
    return value if type(value) is int and 0 <= value <= MAX_TOKEN_COUNT else 0

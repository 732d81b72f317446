"""Batched, serial writes of results for every run in the process.

One writer per process keeps SQLite to a single writer; a batch every
~100 ms bounds what a crash can lose to the last batch plus requests in
flight, which are simply redone on resume.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from workbench.store import Store
from workbench.store.results import ResultRow, RunUpdate, write_batch

log = logging.getLogger(__name__)


class Source(Protocol):
    run_id: int

    def snapshot(self) -> dict: ...

    def storage_failed(self, exc: Exception) -> None: ...


class ResultWriter:
    def __init__(self, store: Store, interval_s: float = 0.25, max_batch: int = 2000):
        self.store = store
        self.interval_s = interval_s
        self.max_batch = max_batch
        self._rows: dict[int, list[ResultRow]] = {}
        self._cache: dict[int, list[tuple[str, str, int, int]]] = {}
        self._sources: dict[int, Source] = {}
        self._dirty: set[int] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._pending = 0

    def add(self, source: Source, row: ResultRow | None, cache_entry: tuple[str, str, int, int] | None = None) -> None:
        """Queue a result (or just a progress change, with row=None) for the next batch."""
        run_id = source.run_id
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
            if not self._dirty:
                return
            # Taking rows and counters together, in the loop thread, keeps them consistent.
            updates = [
                RunUpdate(run_id, self._rows.pop(run_id, []), self._cache.pop(run_id, []),
                          self._sources[run_id].snapshot())
                for run_id in sorted(self._dirty)
            ]
            self._dirty.clear()
            self._pending = 0
            try:
                await asyncio.to_thread(write_batch, self.store, updates)
            except Exception as exc:  # disk full, read-only, database gone
                log.error("could not write results: %s", exc)
                for update in updates:
                    self._sources[update.run_id].storage_failed(exc)

    async def run_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

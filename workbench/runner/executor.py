"""Executing one run: a producer pages pending records, N workers ask the model.

Durability comes from the store: a record is pending until its result row
exists, so a restarted executor simply continues, and the (run, seq) key
makes a duplicate impossible. The pieces: ``Asker`` (render, request, parse),
``Tally`` (the figures), ``Breaker`` (transport failures held back while the
endpoint may be down), ``RunControl`` (pause/cancel from anywhere, takeover
by another process), ``Stop`` (why it stops, how it ends). This module ties
them together and hands each result to the writer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from workbench.domain.outputs import keep_raw
from workbench.domain.tasks import Task
from workbench.providers.base import CONFIG, UNSUPPORTED, Provider, ProviderError
from workbench.providers.registry import create_provider, load_providers, provider_class
from workbench.runner.asking import Asker, Item, error_row
from workbench.runner.examples import freeze_examples
from workbench.runner.breaker import Breaker, is_transport_failure
from workbench.runner.lease import CONTROL_POLL_S, RunControl
from workbench.runner.options import RunOptions
from workbench.runner.stopping import Stop, final_state
from workbench.runner.tally import Tally
from workbench.runner.writer import ResultWriter
from workbench.store.faults import is_storage_failure
from workbench.store import Store
from workbench.store.judges import JUDGE, pending_judgements, refresh_total
from workbench.store.results import PendingRecord, ResultRow, cached_answers, pending_records
from workbench.store.runs import RunInfo, RunNotFound, claim, get_run, orphaned, recount, set_status

load_providers()  # import (aiohttp etc.) now, not inside a run's event loop
log = logging.getLogger(__name__)

PAGE = 500
DRAIN_S = 5.0  # on pause, how long answers in flight may take to land
CHUNK = 25  # records rendered between two turns of the loop
LOOKUP = 100  # records whose cached answers are asked for in one query
# The first page and group are small, so the first requests go out before hundreds are read and rendered.
FIRST_PAGE = LOOKUP
FATAL_KINDS = (CONFIG, UNSUPPORTED)

__all__ = ["RunExecutor", "RunOptions"]


class RunExecutor:
    def __init__(self, store: Store, run: RunInfo, task: Task, writer: ResultWriter):
        self.store = store
        self.run = run
        self.run_id = run.id
        self.task = task
        self.writer = writer
        self.options = RunOptions.from_dict(run.options)
        # A model's concurrency is per endpoint: replicas add up.
        self.per_endpoint = max(1, self.options.concurrency or run.model.max_concurrency)
        self.concurrency = self.per_endpoint * max(1, len(run.model.base_urls))
        self.status = run.status
        self.following = False  # another process runs it; this only mirrors its figures
        self.tally = Tally(run)
        self.breaker = Breaker(self.options.down_after)
        self.stopping = Stop()
        self.control = RunControl(store, run.id, self.stopping)
        self.asker = Asker(run, task, self.options, use_cache=provider_class(run.model.provider).cacheable,
                           breaker=self.breaker, tally=self.tally)
        self._busy: set[asyncio.Task] = set()  # workers waiting for an answer

    # ---- what the writer and the manager ask of a run -------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return self.tally.snapshot(self.status)

    def stop(self, status: str, reason: str | None) -> None:
        self.stopping.request(status, reason)

    def storage_failed(self, exc: Exception) -> None:
        self.stop("paused", _storage_reason(exc))

    def internal_failure(self, where: str, exc: BaseException) -> None:
        """A bug of the runner's own (not the model's, not the store's): the run fails, saying why."""
        log.error("run %s: internal error while %s", self.run_id, where, exc_info=exc)
        self.stop("failed", keep_raw(f"internal error while {where}: {type(exc).__name__}: {exc}", cap=500))

    def run_gone(self) -> None:
        """The run was deleted (with its dataset): stop asking, save nothing more."""
        self.stopping.deleted()

    def result_replaced(self, old: ResultRow, new: ResultRow) -> None:
        """The store refused ``old``; ``new`` (an error) was saved instead: the counters follow."""
        self.tally.replaced(old, new)

    # ---- the run ------------------------------------------------------------------------------
    async def execute(self) -> str:
        """Run to the end (or until stopped); returns the run's final status. Never raises (but
        for cancellation): whatever goes wrong ends in a state with its reason, never a silent stop."""
        try:
            return await self._execute_reported()
        finally:
            self.writer.forget(self.run_id)  # its last flush is done: the writer keeps nothing of it

    async def _execute_reported(self) -> str:
        """``_execute``, whatever goes wrong ending in a state with its reason."""
        try:
            return await self._execute()
        except asyncio.CancelledError:
            raise
        except RunNotFound:
            self.stopping.gone, self.status = True, "cancelled"
            return self.status
        except Exception as exc:  # noqa: BLE001
            if self.following:  # the run is another process's: its state is not ours to change
                log.warning("run %s: could not follow it: %s", self.run_id, exc)
                return self.status
            if is_storage_failure(exc):
                status, reason = "paused", _storage_reason(exc)
            else:
                log.error("run %s failed", self.run_id, exc_info=exc)
                status, reason = "failed", keep_raw(f"internal error: {type(exc).__name__}: {exc}", cap=500)
            try:
                await asyncio.to_thread(set_status, self.store, self.run_id, status, reason,
                                        only_from=("queued", "running"), release_lease=True)
            except Exception as again:  # noqa: BLE001 - the lease lapses; another session takes it up
                log.error("run %s: could not record %s (%s)", self.run_id, status, again)
            self.status = status
            return status

    async def _execute(self) -> str:
        if not await asyncio.to_thread(claim, self.store, self.run_id):
            return await self._follow()
        self.status = "running"
        figures = await asyncio.to_thread(recount, self.store, self.run_id)
        if self.run.kind == JUDGE:  # the judged runs may have answered more records since
            self.tally.total = await asyncio.to_thread(refresh_total, self.store, self.run)
        if self.options.example_ids:
            self.asker.examples = await asyncio.to_thread(freeze_examples, self.store, self.run)
        self.tally.start_session(figures)
        provider = create_provider(self.run.model.with_changes(max_concurrency=self.per_endpoint))
        queue: asyncio.Queue[Item] = asyncio.Queue(maxsize=self.concurrency * 2)
        producer = asyncio.create_task(self._guarded("reading pending records", self._produce(queue)))
        workers = [asyncio.create_task(self._guarded("handling an answer", self._work(queue, provider)))
                   for _ in range(self.concurrency)]
        control = asyncio.create_task(self._guarded("watching for pause and cancel", self._watch_control()))
        finished = asyncio.create_task(self._all_done(producer, queue))
        stopped = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait([finished, stopped], return_when=asyncio.FIRST_COMPLETED)
            if self.stopping.is_set():
                producer.cancel()
                busy = [w for w in workers if w in self._busy]
                if busy:  # let answers in flight land rather than asking again later
                    await asyncio.wait(busy, timeout=min(DRAIN_S, self.options.timeout_s))
        finally:
            tasks = (producer, control, finished, stopped, *workers)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await provider.aclose()
            except Exception as exc:  # noqa: BLE001 - the run's outcome stands
                log.warning("run %s: closing the provider failed: %s", self.run_id, exc)
        return await self._finish()

    async def _follow(self) -> str:
        """Another live process runs this; mirror its figures until it ends (or stops running it)."""
        self.following = True
        while True:
            run = await asyncio.to_thread(get_run, self.store, self.run_id)
            self.status = run.status
            self.tally.mirror(run)
            if run.status != "running" or self.stopping.is_set():
                return run.status
            if orphaned(run):  # its process died or let the lease lapse: take the run over
                self.following = False
                return await self.execute()
            await asyncio.sleep(CONTROL_POLL_S)

    async def _all_done(self, producer: asyncio.Task, queue: asyncio.Queue) -> None:
        await producer
        await queue.join()

    async def _finish(self) -> str:
        if self.stopping.gone:
            self.breaker.drop()
            self.status = "cancelled"
            return self.status
        if self.stopping.lost:
            self.breaker.drop()
            await self.writer.flush()  # answers that landed: kept once (the counters are the owner's)
            return await self._follow()
        status, reason, released = final_state(self.stopping, self.breaker)
        for row in released:  # the run ended: held failures are real errors
            self._record(row)
        self.writer.add(self, None)
        await self.writer.flush()
        if self.stopping.gone:  # found deleted by that last write
            self.status = "cancelled"
            return self.status
        # A pause or cancel from elsewhere is already recorded; don't overwrite it.
        changed = await asyncio.to_thread(set_status, self.store, self.run_id, status, reason,
                                          only_from=("running",), release_lease=True)
        self.status = status if changed else (await asyncio.to_thread(get_run, self.store, self.run_id)).status
        return self.status

    async def _guarded(self, where: str, work) -> None:
        """A task of the run's (producer, control watch, worker): what escapes it stops the run with
        its reason (a storage failure pauses), instead of ending the task quietly."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except RunNotFound:
            self.run_gone()
        except Exception as exc:  # noqa: BLE001
            if is_storage_failure(exc):
                self.storage_failed(exc)
            else:
                self.internal_failure(where, exc)

    async def _watch_control(self) -> None:
        """Obey pause/cancel requests made by any process (the page, another CLI)."""
        status = await self.control.watch()
        if status is not None:
            self.status = status

    async def _produce(self, queue: asyncio.Queue) -> None:
        after, max_seq, limit, group = 0, self.options.limit, FIRST_PAGE, CHUNK
        use_cache = self.asker.use_cache and not self.options.fresh
        while True:
            page = await asyncio.to_thread(self._pending, after, max_seq, limit)
            if not page:
                return
            after, limit = page[-1].seq, PAGE
            start = 0
            while start < len(page):
                items = []
                # Small chunks: rendering is CPU work on the loop, and answers must not wait behind it.
                for chunk in range(start, min(start + group, len(page)), CHUNK):
                    items += [self.asker.prepare(record) for record in page[chunk:chunk + CHUNK]]
                    await asyncio.sleep(0)
                start, group = start + group, LOOKUP
                if use_cache:
                    keys = [i.cache_key for i in items if i.cache_key]
                    hits = await asyncio.to_thread(cached_answers, self.store, keys)
                    for item in items:
                        item.cached = hits.get(item.cache_key) if item.cache_key else None
                for item in items:
                    await queue.put(item)
                await asyncio.sleep(0)

    def _pending(self, after: int, max_seq: int | None, limit: int) -> list[PendingRecord]:
        """The next page of records without a result here; a judge run's are the records its two runs
        answered differently, each with both answers (store/judges.py)."""
        if self.run.kind == JUDGE:
            return pending_judgements(self.store, self.run, after_seq=after, limit=limit)
        return pending_records(self.store, self.run.dataset_id, self.run_id, after_seq=after, max_seq=max_seq,
                               limit=limit)

    async def _work(self, queue: asyncio.Queue, provider: Provider) -> None:
        me = asyncio.current_task()
        assert me is not None
        while not self.stopping.is_set():
            await self.writer.room()  # the store behind: wait for it rather than hold every answer unsaved
            item = await queue.get()
            try:
                if self.stopping.is_set() or not await self.control.still_ours():
                    return  # left pending for the next session (or the run's new owner)
                self._busy.add(me)
                await self._process(item, provider)
            finally:
                self._busy.discard(me)
                queue.task_done()

    async def _process(self, item: Item, provider: Provider) -> None:
        record = item.record
        if item.render_error is not None:
            self._record(error_row(record, "template", item.render_error, attempts=0))
            return
        if item.cached is not None:
            text, tokens_in, tokens_out = item.cached
            self._record(await self.asker.answer_row(record, text, tokens_in, tokens_out, None, 0, cached=True))
            return
        outcome, attempts = await self.asker.ask(provider, item)
        if isinstance(outcome, ProviderError):
            self._failed(error_row(record, outcome.kind, str(outcome), attempts=attempts, raw_text=outcome.raw_text),
                         outcome)
            return
        for held in self.breaker.success():
            self._record(held)
        row = await self.asker.answer_row(record, outcome.text, outcome.input_tokens, outcome.output_tokens,
                                          outcome.latency_s * 1000, attempts, cached=False,
                                          finish_reason=outcome.finish_reason)
        entry = None
        if row.status == "ok" and item.cache_key and "\x00" not in outcome.text:  # a text PostgreSQL can't hold
            entry = (item.cache_key, outcome.text, outcome.input_tokens, outcome.output_tokens)
        self._record(row, entry)

    def _failed(self, row: ResultRow, error: ProviderError) -> None:
        """A record the model could not answer: the run fails, the breaker holds it, or it is an error."""
        if error.kind in FATAL_KINDS:
            self.stop("failed", str(error))
        elif is_transport_failure(error):
            self.breaker.failure(row)
            if self.breaker.tripped:
                self.stop("paused", f"endpoint unreachable after {self.breaker.consecutive} failed records "
                                    f"in a row ({error}); resume when it is back")
        else:
            self._record(row)

    def _record(self, row: ResultRow, cache_entry: tuple[str, str, int, int] | None = None) -> None:
        self.tally.count(row)
        self.writer.add(self, row, cache_entry)


def _storage_reason(exc: BaseException) -> str:
    return keep_raw(f"could not save results ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}); "
                    "resume when fixed")

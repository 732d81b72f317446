"""Executing one run: a producer pages pending records, N workers call the model.

Durability comes from the store: a record is pending until its result row
exists, so a restarted executor simply continues, and the (run, seq) key
makes a duplicate impossible. Transport failures are held back until the
endpoint proves it is alive: if it stays down the run pauses itself and
those records stay pending instead of becoming errors.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from workbench.domain.comparison import verdict_key
from workbench.domain.outputs import INVALID_RESPONSE, ParsedOutput, keep_raw, parse_output_off_loop
from workbench.domain.progress import Progress, cost, rates
from workbench.domain.tasks import Task, TaskError
from workbench.providers.base import (
    CONFIG, HTTP, TIMEOUT, UNSUPPORTED, Provider, ProviderError, Request, create_provider, load_providers,
)
from workbench.runner.limits import RateLimiter, backoff_delay
from workbench.runner.writer import ResultWriter, is_storage_failure
from workbench.store import Store
from workbench.grid.curation import golden_examples
from workbench.store.results import PendingRecord, ResultRow, cached_answers, pending_records
from workbench.store.runs import OWNER, RunInfo, RunNotFound, claim, get_run, orphaned, recount, set_status

load_providers()  # import (aiohttp etc.) now, not inside a run's event loop
log = logging.getLogger(__name__)

PAGE = 500
DRAIN_S = 5.0  # on pause, how long answers in flight may take to land
CHUNK = 25
CONTROL_POLL_S = 0.5
FATAL_KINDS = (CONFIG, UNSUPPORTED)
GONE = "its dataset was deleted while it ran"


@dataclass
class RunOptions:
    limit: int | None = None
    fresh: bool = False
    concurrency: int | None = None
    timeout_s: float = 120.0
    max_attempts: int = 4
    down_after: int = 5  # consecutive transport failures that mean "the endpoint is down"
    few_shot: int = 0  # golden examples shown before each record (in-context learning)
    examples_from: str | None = None  # dataset the examples come from (default: the run's own)
    example_ids: list[str] | None = None  # fixed when the run is created, so a resume shows the same ones

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunOptions":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Item:
    record: PendingRecord
    messages: list[dict[str, str]] | None
    cache_key: str | None
    cached: tuple[str, int, int] | None = None
    render_error: str | None = None


def cache_key(run: RunInfo, messages: list[dict[str, str]], schema: dict) -> str:
    m = run.model
    identity = {"provider": m.provider, "base_url": m.base_url, "model": m.model, "params": m.params.model_dump(),
                "structured_output": m.structured_output, "messages": messages, "schema": schema}
    return hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()


def is_transport_failure(exc: ProviderError) -> bool:
    return exc.kind == TIMEOUT or (exc.kind == HTTP and (exc.status is None or exc.status == 429 or exc.status >= 500))


@dataclass
class Breaker:
    threshold: int
    consecutive: int = 0
    tripped: bool = False
    held: list[ResultRow] = field(default_factory=list)

    def failure(self, row: ResultRow) -> None:
        self.consecutive += 1
        self.held.append(row)
        if self.consecutive >= self.threshold:
            self.tripped = True

    def success(self) -> list[ResultRow]:
        """The endpoint answered: what was held back were real per-record failures."""
        self.consecutive = 0
        released, self.held = self.held, []
        return released


class RunExecutor:
    def __init__(self, store: Store, run: RunInfo, task: Task, writer: ResultWriter):
        self.store = store
        self.run = run
        self.run_id = run.id
        self.task = task
        self.writer = writer
        self.examples: list[tuple[str, dict, dict]] = []  # (record id, record, golden answer)
        self.verdict_fields = [name for name, _ in task.verdict_fields]
        self.options = RunOptions.from_dict(run.options)
        # A model's concurrency is per endpoint: replicas add up.
        per_endpoint = self.options.concurrency or run.model.max_concurrency
        self.per_endpoint = max(1, per_endpoint)
        self.concurrency = self.per_endpoint * max(1, len(run.model.base_urls))
        self.limiter = RateLimiter(run.model.requests_per_minute, run.model.tokens_per_minute)
        self.breaker = Breaker(self.options.down_after)
        self.use_cache = run.model.provider != "baseline"
        self._stop = asyncio.Event()
        self._busy: set[asyncio.Task] = set()
        self._stop_reason: tuple[str, str | None] | None = None  # (status, reason) to record on stop
        self.status = run.status
        self.following = False  # another process runs it; this only mirrors its figures
        self._lost = False  # another process took the run over while this one ran it
        self._gone = False  # the run was deleted (with its dataset) while it ran
        self._checked_at = time.monotonic()  # when the run was last seen to be ours
        self._logged: set[type] = set()  # exception types whose traceback was logged
        # Counters (absolute) and where this session started, for rates.
        self.done = self.errors = self.tokens_in = self.tokens_out = 0
        self.errors_by_kind: dict[str, int] = {}
        self._session_start = time.monotonic()
        self._base = (0, 0)
        self._base_active = run.active_seconds
        self.total = run.total

    # ---- progress ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self._session_start
        per_s, tok_s, eta = rates(self.done - self._base[0], self.tokens_out - self._base[1], elapsed,
                                  self.total - self.done)
        progress = Progress(
            run_id=self.run_id, model_id=self.run.model_id, dataset_id=self.run.dataset_id, status=self.status,
            total=self.total, done=self.done, errors=self.errors, errors_by_kind=dict(self.errors_by_kind),
            tokens_in=self.tokens_in, tokens_out=self.tokens_out,
            cost=cost(self.tokens_in, self.tokens_out, self.run.model.price_in, self.run.model.price_out),
            records_per_s=round(per_s, 2), tokens_per_s=round(tok_s, 1),
            eta_seconds=round(eta, 1) if eta is not None else None,
        )
        return progress.to_dict() | {"active_seconds": self._base_active + elapsed}

    def storage_failed(self, exc: Exception) -> None:
        self.stop("paused", _storage_reason(exc))

    def stop(self, status: str, reason: str | None) -> None:
        if self._stop_reason is None:
            self._stop_reason = (status, reason)
        self._stop.set()

    def internal_failure(self, where: str, exc: BaseException) -> None:
        """A bug of the runner's own (not the model's, not the store's): the run fails, saying why."""
        log.error("run %s: internal error while %s", self.run_id, where, exc_info=exc)
        self.stop("failed", keep_raw(f"internal error while {where}: {type(exc).__name__}: {exc}", cap=500))

    def run_gone(self) -> None:
        """The run was deleted (with its dataset): stop asking, save nothing more."""
        self._gone = True
        self.stop("cancelled", GONE)

    def result_replaced(self, old: ResultRow, new: ResultRow) -> None:
        """The store refused ``old``; ``new`` (an error) was saved instead: the counters follow."""
        for row, sign in ((old, -1), (new, 1)):
            self.tokens_in += sign * row.tokens_in
            self.tokens_out += sign * row.tokens_out
            if row.status == "error":
                self.errors += sign
                self.errors_by_kind[row.error_kind] = self.errors_by_kind.get(row.error_kind, 0) + sign
        self.errors_by_kind = {kind: n for kind, n in self.errors_by_kind.items() if n > 0}

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
            self._gone, self.status = True, "cancelled"
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
        self.done, self.errors = figures["done"], figures["errors"]
        self.tokens_in, self.tokens_out = figures["tokens_in"], figures["tokens_out"]
        self.errors_by_kind = figures["errors_by_kind"]
        self._base = (self.done, self.tokens_out)
        if self.options.example_ids:
            source = self.options.examples_from or self.run.dataset_id
            self.examples = await asyncio.to_thread(golden_examples, self.store, source,
                                                    record_ids=self.options.example_ids)
        self._session_start = time.monotonic()
        provider = create_provider(self.run.model.model_copy(update={"max_concurrency": self.per_endpoint}))
        queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        producer = asyncio.create_task(self._guarded("reading pending records", self._produce(queue)))
        workers = [asyncio.create_task(self._guarded("handling an answer", self._work(queue, provider)))
                   for _ in range(self.concurrency)]
        control = asyncio.create_task(self._guarded("watching for pause and cancel", self._watch_control()))
        finished = asyncio.create_task(self._all_done(producer, queue))
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([finished, stopped], return_when=asyncio.FIRST_COMPLETED)
            if self._stop.is_set():
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
            self.status, self.total = run.status, run.total
            self.done, self.errors, self.tokens_in, self.tokens_out = run.done, run.errors, run.tokens_in, run.tokens_out
            if run.status != "running" or self._stop.is_set():
                return run.status
            if orphaned(run):  # its process died or let the lease lapse: take the run over
                self.following = False
                return await self.execute()
            await asyncio.sleep(CONTROL_POLL_S)

    async def _all_done(self, producer: asyncio.Task, queue: asyncio.Queue) -> None:
        await producer
        await queue.join()

    async def _finish(self) -> str:
        if self._gone:
            self.breaker.held.clear()
            self.status = "cancelled"
            return self.status
        if self._lost:
            self.breaker.held.clear()
            await self.writer.flush()  # answers that landed: kept once (the counters are the owner's)
            return await self._follow()
        if self._stop_reason is None and self.breaker.tripped:
            self._stop_reason = ("paused", "endpoint unreachable")
        if self._stop_reason is None:
            for row in self.breaker.success():  # the run ended: held failures are real errors
                self._record(row)
        else:
            self.breaker.held.clear()  # stays pending, redone on resume
        self.writer.add(self, None)
        await self.writer.flush()
        if self._gone:  # found deleted by that last write
            self.status = "cancelled"
            return self.status
        if self._stop_reason is None:
            status, reason = "completed", None
        else:
            status, reason = self._stop_reason
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
        while True:
            await asyncio.sleep(CONTROL_POLL_S)
            try:
                current = await asyncio.to_thread(get_run, self.store, self.run_id)
            except Exception as exc:  # noqa: BLE001 - the database away for a moment: look again
                if not is_storage_failure(exc):
                    raise
                log.warning("run %s: could not read its state: %s", self.run_id, exc)
                continue
            if current.status != "running":
                self.status = current.status
                self._stop_reason = self._stop_reason or (current.status, current.status_reason)
                self._stop.set()
                return
            if self._taken_over(current):
                return

    async def _still_ours(self) -> bool:
        """Normally the control watch has just looked. If it hasn't for a while, this process was
        held up (stopped, swapped out) and its lease may have lapsed: look before asking the model."""
        if time.monotonic() - self._checked_at < CONTROL_POLL_S * 4:
            return True
        current = await asyncio.to_thread(get_run, self.store, self.run_id)
        return not self._taken_over(current)

    def _taken_over(self, current: RunInfo) -> bool:
        """This process was held up past its lease and another took the run over: stop asking the
        model and leave the run's state to its new owner (``_finish`` then follows it)."""
        self._checked_at = time.monotonic()
        if current.lease_owner in (None, OWNER):
            return False
        self._lost = True
        self._stop.set()
        return True

    async def _produce(self, queue: asyncio.Queue) -> None:
        after, max_seq = 0, self.options.limit
        while True:
            page = await asyncio.to_thread(pending_records, self.store, self.run.dataset_id, self.run_id,
                                           after_seq=after, max_seq=max_seq, limit=PAGE)
            if not page:
                return
            after = page[-1].seq
            # Small chunks: rendering is CPU work on the loop, and answers must not wait behind it.
            for start in range(0, len(page), CHUNK):
                items = [self._prepare(record) for record in page[start:start + CHUNK]]
                if self.use_cache and not self.options.fresh:
                    keys = [i.cache_key for i in items if i.cache_key]
                    hits = await asyncio.to_thread(cached_answers, self.store, keys)
                    for item in items:
                        item.cached = hits.get(item.cache_key)
                for item in items:
                    await queue.put(item)
                await asyncio.sleep(0)

    def _prepare(self, record: PendingRecord) -> Item:
        try:
            # A record is never shown to the model as its own example (ids survive a golden
            # export and re-import, so this holds for examples from another dataset too).
            examples = [(data, answer) for record_id, data, answer in self.examples if record_id != record.record_id]
            messages = self.task.render(record.data, examples)
            key = cache_key(self.run, messages, self.task.output_schema) if self.use_cache else None
        except TaskError as exc:
            return Item(record, None, None, render_error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a record the template can't take is that record's error
            return Item(record, None, None, render_error=f"could not render the prompt: {type(exc).__name__}: {exc}")
        return Item(record, messages, key)

    async def _work(self, queue: asyncio.Queue, provider: Provider) -> None:
        me = asyncio.current_task()
        while not self._stop.is_set():
            item = await queue.get()
            try:
                if self._stop.is_set() or not await self._still_ours():
                    return  # left pending for the next session (or the run's new owner)
                self._busy.add(me)
                await self._process(item, provider)
            finally:
                self._busy.discard(me)
                queue.task_done()

    async def _process(self, item: Item, provider: Provider) -> None:
        record = item.record
        if item.render_error is not None:
            self._record(_error_row(record, "template", item.render_error, attempts=0))
            return
        if item.cached is not None:
            text, tokens_in, tokens_out = item.cached
            self._record(await self._parsed_row(record, text, tokens_in, tokens_out, None, 0, cached=True))
            return
        outcome, attempts = await self._call(provider, item)
        if isinstance(outcome, ProviderError):
            row = _error_row(record, outcome.kind, str(outcome), attempts=attempts, raw_text=outcome.raw_text)
            if outcome.kind in FATAL_KINDS:
                self.stop("failed", str(outcome))
            elif is_transport_failure(outcome):
                self.breaker.failure(row)
                if self.breaker.tripped:
                    self.stop("paused", f"endpoint unreachable after {self.breaker.consecutive} failed records "
                                        f"in a row ({outcome}); resume when it is back")
            else:
                self._record(row)
            return
        for held in self.breaker.success():
            self._record(held)
        row = await self._parsed_row(record, outcome.text, outcome.input_tokens, outcome.output_tokens,
                                     outcome.latency_s * 1000, attempts, cached=False)
        entry = None
        if row.status == "ok" and item.cache_key and "\x00" not in outcome.text:  # a text PostgreSQL can't hold
            entry = (item.cache_key, outcome.text, outcome.input_tokens, outcome.output_tokens)
        self._record(row, entry)

    async def _call(self, provider: Provider, item: Item):
        request = Request(messages=item.messages, schema=self.task.output_schema, record=item.record.data,
                          timeout_s=self.options.timeout_s)
        expected = self.tokens_out // max(self.done, 1) + 200 if self.limiter.tokens_per_minute else 0
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire(expected)
            try:
                generation = await provider.generate(request)
            except ProviderError as exc:
                if not exc.retryable or attempt >= self.options.max_attempts or self.breaker.tripped:
                    return exc, attempt
                await asyncio.sleep(backoff_delay(attempt, exc.retry_after_s))
                continue
            except Exception as exc:  # noqa: BLE001 - whatever breaks while asking or reading ends this record
                self._log_unforeseen(exc)
                return ProviderError(INVALID_RESPONSE, f"the answer could not be read: {type(exc).__name__}: {exc}"
                                     [:500]), attempt
            self.limiter.spend(generation.input_tokens + generation.output_tokens)
            return generation, attempt

    async def _parsed_row(self, record: PendingRecord, text: str, tokens_in: int, tokens_out: int,
                          latency_ms: float | None, attempts: int, cached: bool) -> ResultRow:
        """The result row for an answer: parsed and checked, or a typed error keeping the raw text (capped)."""
        parsed = await parse_output_off_loop(text, self.task)
        try:
            valid = parsed.value if parsed.ok else None
            primary = self.task.primary_verdict
            verdict = verdict_key(valid, self.verdict_fields)
            primary_value = str(valid.get(primary)) if valid is not None and primary else None
        except Exception as exc:  # noqa: BLE001 - an answer the comparison can't read is an error too
            parsed = ParsedOutput(None, INVALID_RESPONSE, f"the answer could not be compared: "
                                                          f"{type(exc).__name__}: {exc}"[:300])
            verdict = primary_value = None
        message = keep_raw(parsed.error_message, cap=1000) if parsed.error_message is not None else None
        return ResultRow(
            seq=record.seq, record_id=record.record_id, status="ok" if parsed.ok else "error",
            output=parsed.value, error_kind=parsed.error_kind, error_message=message,
            raw_text=None if parsed.ok else keep_raw(text), latency_ms=latency_ms, tokens_in=tokens_in,
            tokens_out=tokens_out, attempts=attempts, cached=cached, verdict_key=verdict,
            primary_verdict=primary_value,
        )

    def _log_unforeseen(self, exc: Exception) -> None:
        """The traceback once per run and exception type (it is the same bug on every record), then one line."""
        if type(exc) in self._logged:
            log.debug("run %s: %s while asking the model (again)", self.run_id, type(exc).__name__)
            return
        self._logged.add(type(exc))
        log.warning("run %s: %s while asking the model (later ones are not logged)", self.run_id,
                    type(exc).__name__, exc_info=exc)

    def _record(self, row: ResultRow, cache_entry: tuple[str, str, int, int] | None = None) -> None:
        self.done += 1
        self.tokens_in += row.tokens_in
        self.tokens_out += row.tokens_out
        if row.status == "error":
            self.errors += 1
            self.errors_by_kind[row.error_kind] = self.errors_by_kind.get(row.error_kind, 0) + 1
        self.writer.add(self, row, cache_entry)


def _error_row(record: PendingRecord, kind: str, message: str, attempts: int,
               raw_text: str | None = None) -> ResultRow:
    return ResultRow(seq=record.seq, record_id=record.record_id, status="error", output=None, error_kind=kind,
                     error_message=keep_raw(message, cap=1000), raw_text=keep_raw(raw_text) if raw_text else None,
                     latency_ms=None, tokens_in=0, tokens_out=0, attempts=attempts, cached=False)


def _storage_reason(exc: BaseException) -> str:
    return keep_raw(f"could not save results ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}); "
                    "resume when fixed")

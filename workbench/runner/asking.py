"""Asking the model about one record: render the prompt, send it (rate limits, retries), and turn
the answer into a result row (parsed and checked against the task's schema, or a typed error)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from workbench.domain.comparison import verdict_key
from workbench.domain.outputs import INVALID_RESPONSE, ParsedOutput, keep_raw, parse_output_off_loop
from workbench.domain.tasks import Task, TaskError
from workbench.providers.base import Generation, Provider, ProviderError, Request
from workbench.providers.completion import judged_finish
from workbench.runner.breaker import Breaker
from workbench.runner.limits import RateLimiter, backoff_delay
from workbench.runner.options import RunOptions
from workbench.runner.tally import Tally
from workbench.store.results import PendingRecord, ResultRow
from workbench.store.runs import RunInfo

log = logging.getLogger(__name__)

Example = tuple[str, dict, dict]  # (record id, record, golden answer)


@dataclass
class Item:
    """A record ready to be asked about: its messages, or why they could not be made."""

    record: PendingRecord
    messages: list[dict[str, str]] | None
    cache_key: str | None
    cached: tuple[str, int, int] | None = None  # (answer, tokens in, tokens out) from the response cache
    render_error: str | None = None


def prompt_messages(task: Task, record_id: str, data: dict, examples: Sequence[Example]) -> list[dict[str, str]]:
    """The messages a run sends about one record: what the runner asks and what a trace shows."""
    # A record is never shown to the model as its own example (ids survive a golden
    # export and re-import, so this holds for examples from another dataset too).
    return task.render(data, [(example, answer) for example_id, example, answer in examples if example_id != record_id])


def cache_key(run: RunInfo, messages: list[dict[str, str]], schema: dict) -> str:
    return cache_keys(run, schema)(messages)


def cache_keys(run: RunInfo, schema: dict):
    """``cache_key`` for one run's records: what is the same for all of them is gathered once (the
    model's params are turned into a dict once, not per record)."""
    m = run.model
    same = {"provider": m.provider, "base_url": m.base_url, "model": m.model, "params": m.params.to_dict(),
            "structured_output": m.structured_output, "schema": schema}

    def key(messages: list[dict[str, str]]) -> str:
        return hashlib.sha256(orjson.dumps({**same, "messages": messages}, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return key


class Asker:
    def __init__(self, run: RunInfo, task: Task, options: RunOptions, *, use_cache: bool, breaker: Breaker,
                 tally: Tally, examples: list[Example] | None = None):
        self.run = run
        self.task = task
        self.options = options
        self.use_cache = use_cache
        self.breaker = breaker  # once it trips, a failing request is not tried again
        self.tally = tally  # for the tokens the next request will likely spend
        self.examples = examples or []
        self.limiter = RateLimiter(run.model.requests_per_minute, run.model.tokens_per_minute)
        self.verdict_fields = [name for name, _ in task.verdict_fields]
        self._cache_key = cache_keys(run, task.output_schema) if use_cache else None
        self._logged: set[type] = set()  # exception types whose traceback was logged

    def prepare(self, record: PendingRecord) -> Item:
        try:
            messages = prompt_messages(self.task, record.record_id, record.data, self.examples)
            key = self._cache_key(messages) if self._cache_key is not None else None
        except TaskError as exc:
            return Item(record, None, None, render_error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a record the template can't take is that record's error
            return Item(record, None, None, render_error=f"could not render the prompt: {type(exc).__name__}: {exc}")
        return Item(record, messages, key)

    async def ask(self, provider: Provider, item: Item) -> tuple[Generation | ProviderError, int]:
        """The model's answer, or the error that ended the attempts; and how many attempts were made."""
        assert item.messages is not None
        request = Request(messages=item.messages, schema=self.task.output_schema, record=item.record.data,
                          timeout_s=self.options.timeout_s)
        expected = self.tally.expected_tokens() if self.limiter.tokens_per_minute else 0
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

    async def answer_row(self, record: PendingRecord, text: str, tokens_in: int, tokens_out: int,
                         latency_ms: float | None, attempts: int, cached: bool,
                         finish_reason: str | None = None) -> ResultRow:
        """The result row for an answer: parsed and checked, or a typed error keeping the raw text (capped)."""
        parsed = judged_finish(await parse_output_off_loop(text, self.task), finish_reason,
                               self.run.model.params.max_tokens)
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
            primary_verdict=primary_value, finish_reason=finish_reason,
        )

    def _log_unforeseen(self, exc: Exception) -> None:
        """The traceback once per run and exception type (it is the same bug on every record), then one line."""
        if type(exc) in self._logged:
            log.debug("run %s: %s while asking the model (again)", self.run.id, type(exc).__name__)
            return
        self._logged.add(type(exc))
        log.warning("run %s: %s while asking the model (later ones are not logged)", self.run.id,
                    type(exc).__name__, exc_info=exc)


def error_row(record: PendingRecord, kind: str, message: str, attempts: int,
              raw_text: str | None = None) -> ResultRow:
    return ResultRow(seq=record.seq, record_id=record.record_id, status="error", output=None, error_kind=kind,
                     error_message=keep_raw(message, cap=1000), raw_text=keep_raw(raw_text) if raw_text else None,
                     latency_ms=None, tokens_in=0, tokens_out=0, attempts=attempts, cached=False)

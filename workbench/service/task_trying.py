"""Trying a draft task: a few records asked for real through the runner's asking code (the same
render, request, retries and parsing as a run), nothing written — not a run."""

from __future__ import annotations

import asyncio
from typing import Any

from workbench.domain.models import ModelConfig
from workbench.domain.tasks import Task
from workbench.providers.base import ProviderError
from workbench.providers.registry import create_provider
from workbench.runner.asking import Asker
from workbench.runner.breaker import Breaker
from workbench.runner.options import RunOptions
from workbench.runner.tally import Tally
from workbench.store.results import PendingRecord
from workbench.store.runs import RunInfo

TRY_ATTEMPTS = 2  # a retry for a passing 429/500, not the four a run allows


def _trial_run(model: ModelConfig, task: Task, count: int) -> RunInfo:
    """What the asking code needs to know of a run (a trial is none: id 0, never stored)."""
    return RunInfo(id=0, dataset_id="", model_id=model.id, task_name=task.name, task_version=task.version,
                   status="running", status_reason=None, model=model, options={}, total=count, done=0, errors=0,
                   tokens_in=0, tokens_out=0, cost=0.0, active_seconds=0.0, lease_owner=None,
                   lease_expires_at=None, created_at="", started_at=None, finished_at=None)


async def try_on_records(model: ModelConfig, task: Task, records: list[tuple[int, str, dict[str, Any]]],
                         timeout_s: float) -> list[dict[str, Any]]:
    """Per record, in order: {record_id, output | error {kind, message}, raw_text, latency_ms, …}."""
    run = _trial_run(model, task, len(records))
    options = RunOptions(timeout_s=timeout_s, max_attempts=TRY_ATTEMPTS)
    asker = Asker(run, task, options, use_cache=False, breaker=Breaker(options.down_after), tally=Tally(run))
    provider = create_provider(model)
    slots = asyncio.Semaphore(max(1, model.max_concurrency))  # as many at once as the model takes

    async def one(record: PendingRecord) -> dict[str, Any]:
        async with slots:
            return await _try_one(asker, provider, record, timeout_s)

    try:
        return list(await asyncio.gather(*(one(PendingRecord(seq, record_id, data))
                                           for seq, record_id, data in records)))
    finally:
        try:
            await provider.aclose()
        except Exception:  # noqa: BLE001 - closing is best effort; the answers are already in
            pass


async def _try_one(asker: Asker, provider: Any, record: PendingRecord, timeout_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"record_id": record.record_id, "output": None, "error": None, "raw_text": None,
                           "latency_ms": None, "tokens_in": 0, "tokens_out": 0, "finish_reason": None,
                           "messages": None}
    item = asker.prepare(record)
    if item.messages is None:
        out["error"] = {"kind": "template", "message": item.render_error}
        return out
    out["messages"] = item.messages
    try:
        # the whole of a record's attempts, backoff included, within one timeout (and a bit)
        outcome, _ = await asyncio.wait_for(asker.ask(provider, item), timeout_s * TRY_ATTEMPTS + 5)
    except asyncio.TimeoutError:
        out["error"] = {"kind": "timeout", "message": f"no answer within {timeout_s:g} s"}
        return out
    if isinstance(outcome, ProviderError):
        out["error"] = {"kind": outcome.kind, "message": str(outcome)}
        out["raw_text"] = outcome.raw_text
        return out
    row = await asker.answer_row(record, outcome.text, outcome.input_tokens, outcome.output_tokens,
                                 outcome.latency_s * 1000, 1, cached=False, finish_reason=outcome.finish_reason)
    out.update(output=row.output, raw_text=outcome.text[:20_000], latency_ms=round(outcome.latency_s * 1000, 1),
               tokens_in=outcome.input_tokens, tokens_out=outcome.output_tokens,
               finish_reason=outcome.finish_reason)
    if row.status != "ok":
        out["error"] = {"kind": row.error_kind, "message": row.error_message}
    return out

"""What one answer was: the messages sent, the raw answer, the parsed output or typed error, and what
it took (latency, tokens, cost, attempts).

The messages are rendered again, the way the runner renders them (``runner.asking.prompt_messages``),
from the run's task version, the record's data and the run's few-shot examples, which are frozen
when the run starts: a trace says what was sent, also after a golden answer is corrected."""

from __future__ import annotations

from typing import Any

import orjson

from workbench.domain.errors import NotFound, WorkbenchError
from workbench.domain.outputs import parse_output
from workbench.domain.progress import cost
from workbench.providers.registry import provider_class
from workbench.runner.asking import cache_key, prompt_messages
from workbench.runner.examples import run_examples
from workbench.store import Store
from workbench.store.datasets import get_record
from workbench.store.results import cached_answers, result_at
from workbench.store.runs import RunInfo, get_run
from workbench.store.tasks import get_task

__all__ = ["ResultNotFound", "result_trace"]


class ResultNotFound(NotFound):
    pass


def result_trace(store: Store, run_id: int, record_id: str) -> dict[str, Any]:
    """The trace of the run's answer about one record; NotFound for an unknown run or record, or a
    record the run has no result for yet."""
    run = get_run(store, run_id)
    record = get_record(store, run.dataset_id, record_id)
    if record is None:
        raise ResultNotFound(f"no record {record_id!r} in dataset {run.dataset_id!r} of run {run_id}")
    row = result_at(store, run_id, record.seq)
    if row is None:
        raise ResultNotFound(f"run {run_id} has no result for record {record_id!r} yet")
    task = get_task(store, run.task_name, run.task_version)
    output = orjson.loads(row["output"]) if row["output"] is not None else None
    messages = _messages_sent(store, run, task, record_id, record.data, row)
    model = run.model
    return {
        "run_id": run.id, "record_id": record.record_id, "seq": record.seq, "status": row["status"],
        "messages": messages,
        "raw_text": row["raw_text"] if row["raw_text"] is not None else _ok_raw_text(store, run, task, messages,
                                                                                       output),
        "output": output,
        "error": {"kind": row["error_kind"], "message": row["error_message"]} if row["status"] == "error" else None,
        "finish_reason": row["finish_reason"],
        "latency_ms": row["latency_ms"], "tokens_in": row["tokens_in"], "tokens_out": row["tokens_out"],
        # The run's own rule (runner.tally): tokens × the prices of the run's model snapshot, per 1M.
        "cost": cost(row["tokens_in"] or 0, row["tokens_out"] or 0, model.price_in, model.price_out),
        "attempts": row["attempts"], "cached": bool(row["cached"]),
        "model": {"id": model.id, "name": model.name, "provider": model.provider, "model": model.model},
        "task": {"name": run.task_name, "version": run.task_version},
    }


def _messages_sent(store: Store, run: RunInfo, task, record_id: str, data: dict, row: dict) -> list[dict[str, str]]:
    if row["error_kind"] == "template":
        return []  # the prompt could not be made: nothing was sent
    if run.kind == "judge":  # a judge was shown the record with both answers, in its run's order
        from workbench.store.judges import judged_record

        data = judged_record(store, run, row["seq"]) or data
    try:
        return prompt_messages(task, record_id, data, run_examples(store, run))
    except Exception:  # noqa: BLE001 - a record the template can't take was sent nothing
        return []


def _caches(provider: str) -> bool:
    try:
        return provider_class(provider).cacheable
    except WorkbenchError:  # a provider no longer installed: nothing to look up
        return False


def _ok_raw_text(store: Store, run: RunInfo, task, messages: list[dict[str, str]], output: Any) -> str | None:
    """A valid answer's text is not kept on its row (it is its output); the response cache holds it for
    the providers that cache. Shown only when it reads as this output: a fresh run with sampling may have
    had another answer than the one cached first."""
    if output is None or not messages or not _caches(run.model.provider):
        return None
    text = cached_answers(store, [cache_key(run, messages, task.output_schema)])
    if not text:
        return None
    raw = next(iter(text.values()))[0]
    parsed = parse_output(raw, task)
    return raw if parsed.ok and parsed.value == output else None

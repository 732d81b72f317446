"""Exports built on curation: wide results, golden datasets, training data, few-shot prompts, reports.

Everything streams: functions take iterables of items and yield rows, and
the rows go to the writers in ``workbench.domain.exports`` (JSONL, CSV with
formula neutralising, Parquet), or to ``write_hf_parquet`` for chat-format
training data. Items are ``CuratedItem``s, or any object with the same
attributes (``record_id``, ``title``, ``subtitle``, ``data``, ``results`` and
the curation fields ``reference``, ``provenance``, ``preference``, ``note``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from workbench.domain.comparison import agreement, disagreeing_fields
from workbench.domain.exports import _cell, atomic_output
from workbench.domain.tasks import Task

GOLDEN_ANSWER = "golden_answer"
GOLDEN_PROVENANCE = "golden_provenance"
HF_BATCH = 1000


@dataclass
class CuratedItem:
    record_id: str
    title: str
    subtitle: str
    data: dict[str, Any] | None  # None where the record's data was not read
    results: dict[str, dict[str, Any] | None]
    reference: dict[str, Any] | None = None  # the golden / corrected answer
    provenance: dict[str, Any] | None = None  # {"source", "model_id", "run_id", "annotator", "annotated_at"}
    preference: str | None = None  # a column id among those exported, "tie" or "all_bad"
    note: str | None = None


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def valid_output(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The parsed answer of a successful result, else None."""
    if not result or result.get("status") != "ok":
        return None
    output = result.get("output")
    return output if isinstance(output, dict) else None


def _field_names(fields: Iterable[Any]) -> list[str]:
    """Verdict fields as names; accepts names or ``Task.verdict_fields`` (name, options) pairs."""
    return [f[0] if isinstance(f, (tuple, list)) else f for f in fields]


# --- 1. Wide results: one row per record, a column group per model -----------------------------

def wide_columns(models: list[str], fields: list[str]) -> list[str]:
    columns = ["record_id", "title", "subtitle"]
    for model in models:
        columns.append(f"{model}.status")
        columns.extend(f"{model}.{f}" for f in fields)
        columns.extend((f"{model}.error_kind", f"{model}.latency_ms"))
    return columns


def wide_rows(items: Iterable[Any], models: list[str], fields: list[str]) -> Iterator[dict]:
    """One row per record; a model without a result leaves its columns empty. Nested values are JSON text."""
    for item in items:
        row: dict[str, Any] = {"record_id": item.record_id, "title": item.title, "subtitle": item.subtitle}
        for model in models:
            result = item.results.get(model) or {}
            output = result["output"] if isinstance(result.get("output"), dict) else {}
            row[f"{model}.status"] = result.get("status")
            for f in fields:
                row[f"{model}.{f}"] = _cell(output.get(f))
            row[f"{model}.error_kind"] = result.get("error_kind")
            row[f"{model}.latency_ms"] = result.get("latency_ms")
        yield row


# --- 2. Golden dataset: the records themselves plus their reference answers ---------------------

def golden_rows(items: Iterable[Any]) -> Iterator[dict]:
    """Records with a reference answer, as re-importable dataset rows.

    Each row is the record's own fields (so importing the file keeps the
    display fields) plus ``golden_answer`` and ``golden_provenance``; a record
    without an "id" field gets ``"id": record_id`` so re-imported ids match.
    """
    for item in items:
        if item.reference is None:
            continue
        row = dict(item.data) if "id" in item.data else {"id": item.record_id, **item.data}
        row[GOLDEN_ANSWER] = item.reference
        row[GOLDEN_PROVENANCE] = item.provenance
        yield row


# --- 3. Training data: chat fine-tuning examples -----------------------------------------------

def chat_prompt(task: Task, record: dict[str, Any]) -> list[dict[str, str]] | None:
    """The messages the task sends about ``record`` (no few-shot turns), fit for training data:
    an empty system prompt is left out; None when the user turn renders empty (a record whose
    fields are blank has nothing to learn from, and chat fine-tuning refuses an empty message)."""
    messages = [m for m in task.render(record) if m["content"] or m["role"] != "system"]
    if not messages or not messages[-1]["content"].strip():
        return None
    return messages


def training_example(task: Task, record: dict[str, Any],
                     answer: dict[str, Any]) -> dict[str, list[dict[str, str]]] | None:
    """OpenAI chat fine-tuning format: system + user (as the task renders them) + the answer as
    compact JSON; None for a record whose prompt is empty (see ``chat_prompt``)."""
    messages = chat_prompt(task, record)
    if messages is None:
        return None
    messages.append({"role": "assistant", "content": _compact(answer)})
    return {"messages": messages}


def training_rows(task: Task, items: Iterable[Any], *, with_id: bool = False) -> Iterator[dict]:
    """One example per item with a reference (and a prompt that isn't empty). ``with_id`` adds "id"
    (for ``write_hf_parquet``); leave it off for an OpenAI fine-tuning JSONL, whose lines carry only
    "messages"."""
    for item in items:
        if item.reference is None:
            continue
        example = training_example(task, item.data, item.reference)
        if example is None:
            continue
        yield {"id": item.record_id, **example} if with_id else example


def hf_schema():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema([
        ("id", pa.string()),
        ("messages", pa.list_(message)),
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("system", pa.string()),
    ])


def _hf_row(row: dict) -> dict:
    messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]

    def last(role: str) -> str | None:
        return next((m["content"] for m in reversed(messages) if m["role"] == role), None)

    record_id = row.get("id")
    return {"id": None if record_id is None else str(record_id), "messages": messages,
            "prompt": last("user"), "completion": last("assistant"), "system": last("system")}


def write_hf_parquet(rows: Iterable[dict], path: Path, batch: int = HF_BATCH) -> int:
    """Chat examples (``{"id"?, "messages"}``) as a Hugging Face ``datasets``-ready Parquet file.

    Columns: id, messages (list of {role, content}), and the same example split
    as prompt (user turn) / completion (assistant turn) / system. Written in
    batches; a failed write leaves no file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = hf_schema()
    count = 0
    with atomic_output(path) as f:
        with pq.ParquetWriter(f, schema) as writer:
            chunk: list[dict] = []
            for row in rows:
                chunk.append(_hf_row(row))
                if len(chunk) >= batch:
                    writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                    count += len(chunk)
                    chunk = []
            if chunk or count == 0:  # an empty file still gets its schema
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                count += len(chunk)
    return count


# --- 4. Few-shot prompts -----------------------------------------------------------------------

def few_shot_messages(task: Task, examples: list[tuple[dict, dict]]) -> list[dict[str, str]]:
    """The examples as alternating user / assistant turns, exactly as ``Task.render`` shows them."""
    if not examples:
        return []
    # render() needs a record to judge; reuse the first example's and drop it (and the system prompt).
    return task.render(examples[0][0], examples=examples)[1:-1]


def few_shot_block(task: Task, examples: list[tuple[dict, dict]]) -> str:
    """The examples as one text block to paste into a prompt for in-context learning."""
    turns = few_shot_messages(task, examples)
    blocks = [f"Example {i}\n{user['content']}\nAnswer: {assistant['content']}"
              for i, (user, assistant) in enumerate(zip(turns[::2], turns[1::2], strict=True), start=1)]
    return "\n\n".join(blocks).rstrip()


# --- 5. Comparison report and summary sheet ----------------------------------------------------

def comparison_columns(models: list[str], verdict_fields: Iterable[Any]) -> list[str]:
    fields = _field_names(verdict_fields)
    return (["record_id", "title", "subtitle"]
            + [f"{model}.{f}" for model in models for f in fields]
            + ["agreement", "disagree_fields", "preference", "note"]
            + [f"reference.{f}" for f in fields])


def comparison_rows(items: Iterable[Any], models: list[str], verdict_fields: Iterable[Any]) -> Iterator[dict]:
    """One row per record: each model's verdicts (valid answers only), agreement, curation."""
    fields = _field_names(verdict_fields)
    for item in items:
        outputs = {model: valid_output(item.results.get(model)) for model in models}
        row: dict[str, Any] = {"record_id": item.record_id, "title": item.title, "subtitle": item.subtitle}
        for model, output in outputs.items():
            for f in fields:
                row[f"{model}.{f}"] = output.get(f) if output is not None else None
        agreed = agreement(outputs, fields)
        row["agreement"] = "" if agreed is None else ("yes" if agreed else "no")
        row["disagree_fields"] = ";".join(disagreeing_fields(outputs, fields))
        row["preference"] = getattr(item, "preference", None)
        row["note"] = getattr(item, "note", None)
        reference = getattr(item, "reference", None) or {}
        for f in fields:
            row[f"reference.{f}"] = reference.get(f)
        yield row

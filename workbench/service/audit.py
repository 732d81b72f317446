"""The audit log of admin actions: who did what, when (append-only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson

from workbench.domain.errors import InvalidInput
from workbench.store import Store
from workbench.store import audit as stored

FORMATS = ("jsonl", "csv")
COLUMNS = ("id", "at", "actor", "action", "target", "detail")


def cli_actor() -> str:
    from workbench.service.curation import local_author

    return f"cli:{local_author()}"


def record(store: Store, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None) -> None:
    stored.record(store, actor=actor, action=action, target=target, detail=detail)


def entries(store: Store, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    """Newest first, ``limit`` at a time; ``before`` an id from the previous page."""
    return stored.entries(store, limit=max(1, min(limit, 1000)), before=before)


def export_lines(store: Store, fmt: str) -> Iterator[str]:
    """The whole log, oldest first, as JSON lines or CSV (cells that a spreadsheet would run as a
    formula are neutralised, as in every CSV export)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    if fmt == "jsonl":
        for entry in stored.every_entry(store):
            yield orjson.dumps(entry).decode() + "\n"
        return
    from workbench.domain.exports import neutralise

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for entry in stored.every_entry(store):
        cells = [*(entry[c] for c in COLUMNS[:-1]), orjson.dumps(entry["detail"]).decode()]
        writer.writerow([neutralise(c) for c in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()

"""The live feed: events after an id, coalesced so a busy run doesn't flood a client."""

from __future__ import annotations

from workbench.store.db import Store
from workbench.store.results import events_after, last_event_id

BATCH = 2000  # events read at once; a client this far behind gets the next batch right away


def latest_event_id(store: Store) -> int:
    """Where a client that has seen nothing yet starts."""
    return last_event_id(store)


def live_messages(store: Store, after: int) -> tuple[int, list[dict], bool]:
    """(the new last id, the messages for the events after ``after``, whether more are waiting)."""
    events = events_after(store, after, BATCH)
    if not events:
        return after, [], False
    return events[-1]["id"], coalesce(events), len(events) == BATCH


def coalesce(events: list[dict]) -> list[dict]:
    """Keep every state change and annotation, the newest progress per run, and results as one list."""
    progress: dict[int, dict] = {}
    results: list[dict] = []
    others: list[dict] = []
    for event in events:
        if event["type"] == "progress":
            progress[event["run_id"]] = event
        elif event["type"] == "result":
            results.append({k: event[k] for k in ("id", "run_id", "model_id", "dataset_id", "seq", "record_id",
                                                  "status", "error_kind")})
        else:
            others.append(event)
    messages = others
    if results:
        messages.append({"type": "result", "id": results[-1]["id"], "items": results})
    messages.extend(progress.values())
    return messages

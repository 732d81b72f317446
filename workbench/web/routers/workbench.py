"""The grid endpoint (the seed's single call for the page) and the live socket."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, WebSocket

from workbench.store.datasets import get_dataset
from workbench.grid.counts import grid_counts
from workbench.grid.page import grid_page
from workbench.grid.selection import FILTERS, SORTS, GridQuery, parse_cursor, parse_seqs
from workbench.store.models import list_models
from workbench.store.results import events_after, last_event_id, latest_progress
from workbench.store.runs import get_run
from workbench.store.tasks import get_task
from workbench.grid.views import latest_runs
from workbench.web.params import DatabaseId, Int64, SearchText, model_list

router = APIRouter(tags=["workbench"])
log = logging.getLogger(__name__)
TICK_S = 0.1  # at most ~10 socket messages a second per client
MAX_VERDICTS = 32


@router.get("/workbench")
def workbench(
    request: Request,
    dataset_id: str,
    models: str | None = None,
    filter: str = Query("all", description=" | ".join(FILTERS)),
    q: SearchText = None,
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: Annotated[Int64, Query(description="rows per page (at most 500)")] = 50,
    counts: bool = True,
    seqs: str | None = Query(None, description="comma-separated record seqs: refresh just these rows"),
    diff_field: str | None = Query(None, description="with filter=differences: only this verdict field"),
    verdict: list[str] | None = Query(None, description="model:field=value, e.g. olmo:recommendation=No"),
    sort: str = Query("record", description=" | ".join(SORTS)),
) -> dict:
    """Records × selected models: each model's answer, agreement, and where review is needed."""
    if filter not in FILTERS:
        raise HTTPException(422, f"filter must be one of {', '.join(FILTERS)}")
    if sort not in SORTS:
        raise HTTPException(422, f"sort must be one of {', '.join(SORTS)}")
    if len(verdict or []) > MAX_VERDICTS:
        raise HTTPException(422, f"at most {MAX_VERDICTS} verdict filters at once")
    verdicts = [_parse_verdict(v) for v in verdict or []]
    parse_cursor(cursor, sort)  # refused before any work (grid_page reads it again)
    only = parse_seqs(seqs)
    store = request.app.state.store
    dataset = get_dataset(store, dataset_id)
    selected = model_list(models)
    configured = {m.id: m for m in list_models(store)}
    run_ids = latest_runs(store, dataset_id, selected)
    runs = {model_id: get_run(store, run_id) for model_id, run_id in run_ids.items()}
    model_views = []
    for model_id in selected or list(run_ids):
        run = runs.get(model_id)
        name = configured[model_id].name if model_id in configured else (run.model.name if run else model_id)
        model_views.append(_model_view(store, model_id, name, run))
    first = next(iter(runs.values()), None)
    task = get_task(store, first.task_name, first.task_version) if first else get_task(store, "candidate-screening")
    fields = [n for n, _ in task.verdict_fields]
    for name in [diff_field] + [v[1] for v in verdicts]:
        if name is not None and name not in fields:
            raise HTTPException(422, f"{name!r} is not a verdict field of task {task.name!r}")
    missing = [v[0] for v in verdicts if v[0] not in run_ids]
    if missing:
        raise HTTPException(422, f"model {missing[0]!r} has no run on this dataset")
    query = GridQuery(dataset_id, run_ids, fields, filter, q or None, only, diff_field, verdicts, sort)
    rows, next_cursor = grid_page(store, query, cursor=cursor, limit=limit)
    for row in rows:  # models selected but never run still get a column
        for view in model_views:
            row["models"].setdefault(view["id"], None)
    return {
        "dataset": {"id": dataset.id, "name": dataset.name, "count": dataset.record_count},
        "task": {"name": task.name, "version": task.version, "fields": task.field_names, "schema": task.output_schema,
                 "verdict_fields": dict(task.verdict_fields), "primary_verdict": task.primary_verdict},
        "models": model_views,
        "results": rows,
        "next_cursor": next_cursor,
        "counts": grid_counts(store, GridQuery(dataset_id, run_ids, fields, "all", q or None, None, diff_field,
                                              verdicts)) if counts else None,
        "last_event_id": last_event_id(store),
    }


def _parse_verdict(text: str) -> tuple[str, str, str]:
    model, _, rest = text.partition(":")
    field, _, value = rest.partition("=")
    if not (model and field and value):
        raise HTTPException(422, f"verdict filter {text!r} must look like model:field=value")
    return model, field, value


def _model_view(store, model_id: str, name: str, run) -> dict:
    if run is None:
        return {"id": model_id, "name": name, "status": "not run", "run_id": None, "progress": 0, "total": 0,
                "results_count": 0, "errors": 0, "throughput": 0.0, "tokens_per_s": 0.0, "eta_seconds": None}
    live = latest_progress(store, run.id) or {}
    running = run.status == "running"
    return {
        "id": model_id, "name": name, "status": run.status, "status_reason": run.status_reason, "run_id": run.id,
        "progress": run.done, "total": run.total, "results_count": run.done, "errors": run.errors,
        "throughput": live.get("records_per_s", 0.0) if running else 0.0,
        "tokens_per_s": live.get("tokens_per_s", 0.0) if running else 0.0,
        "eta_seconds": live.get("eta_seconds") if running else None,
    }


@router.websocket("/workbench/live")
async def live(websocket: WebSocket, after: DatabaseId | None = None) -> None:
    """Events after ``after``, coalesced into at most one message per tick: a reconnecting
    client passes its last id and gets everything it missed."""
    app = websocket.app  # the token, host and origin were checked by GuardMiddleware, as for HTTP
    await websocket.accept()
    store = app.state.store
    cursor = after if after is not None else await asyncio.to_thread(last_event_id, store)

    async def pump() -> None:
        nonlocal cursor
        while True:
            events = await asyncio.to_thread(events_after, store, cursor, 2000)
            if events:
                cursor = events[-1]["id"]
                await websocket.send_text(orjson.dumps({"last_id": cursor, "messages": coalesce(events)}).decode())
                if len(events) == 2000:
                    continue  # catching up: send the next batch right away
            await asyncio.sleep(TICK_S)

    async def until_closed() -> None:
        # The client only ever closes; noticing it here ends the pump even when nothing is sent.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.create_task(pump()), asyncio.create_task(until_closed())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        failure = tasks[0].exception() if tasks[0] in done and not tasks[0].cancelled() else None
        if failure is not None:
            # Say so (the client reconnects from its last id) rather than dropping the connection.
            log.error("live socket failed: %r", failure)
            await websocket.close(code=1011)
    finally:
        # Not awaited: a pump blocked in a database read finishes on its own, and the
        # handler returns as soon as the client is gone.
        for task in tasks:
            task.cancel()


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

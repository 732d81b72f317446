"""The grid use case: records × the selected models, a page at a time, with filter counts.

``grid_view`` checks the query beyond its types, chooses each model's run and the task, and
shapes the answer of ``GET /api/workbench``. Rows are records (``record_id``, ``title``,
``subtitle``) everywhere inside; the seed's ``candidate_*`` keys are put on here, at the one
boundary that answers the page.
"""

from __future__ import annotations

from typing import Any

from workbench.domain.errors import InvalidInput
from workbench.domain.model_ids import parse_model_ids
from workbench.domain.tasks import DEFAULT_TASK
from workbench.grid.counts import grid_counts
from workbench.grid.page import grid_page
from workbench.grid.selection import FILTERS, SORTS, GridQuery, parse_cursor, parse_seqs
from workbench.store.runs import latest_runs
from workbench.store.datasets import get_dataset
from workbench.store.db import Store
from workbench.store.models import list_models
from workbench.store.results import last_event_id, latest_progress
from workbench.store.runs import RunInfo, get_run
from workbench.store.tasks import get_task

MAX_VERDICTS = 32
# The page's row keys (the seed's names) for the record fields of a row.
ROW_KEYS = {"record_id": "candidate_id", "title": "candidate_name", "subtitle": "candidate_title"}


class BadGridQuery(InvalidInput):
    """A filter, sort, verdict filter or field that this grid doesn't have."""


def grid_view(store: Store, dataset_id: str, *, models: str | None = None, filter: str = "all",
              q: str | None = None, cursor: str | None = None, limit: int = 50, counts: bool = True,
              seqs: str | None = None, diff_field: str | None = None, verdicts: list[str] | None = None,
              sort: str = "record") -> dict[str, Any]:
    """One page of the grid and what the page shows around it (dataset, task, model columns, counts).

    ``models`` is "a,b" (None: every model run on the dataset); ``seqs`` "3,17" refreshes just
    those rows; each of ``verdicts`` is "model:field=value"."""
    if filter not in FILTERS:
        raise BadGridQuery(f"filter must be one of {', '.join(FILTERS)}")
    if sort not in SORTS:
        raise BadGridQuery(f"sort must be one of {', '.join(SORTS)}")
    if len(verdicts or []) > MAX_VERDICTS:
        raise BadGridQuery(f"at most {MAX_VERDICTS} verdict filters at once")
    wanted = [_parse_verdict(v) for v in verdicts or []]
    parse_cursor(cursor, sort)  # refused before any work (grid_page reads it again)
    only = parse_seqs(seqs)
    dataset = get_dataset(store, dataset_id)
    selected = parse_model_ids(models)
    run_ids = latest_runs(store, dataset_id, selected)
    runs = {model_id: get_run(store, run_id) for model_id, run_id in run_ids.items()}
    columns = _columns(store, selected or list(run_ids), runs)
    first = next(iter(runs.values()), None)
    task = get_task(store, first.task_name, first.task_version) if first else get_task(store, DEFAULT_TASK)
    fields = [n for n, _ in task.verdict_fields]
    for name in [diff_field] + [v[1] for v in wanted]:
        if name is not None and name not in fields:
            raise BadGridQuery(f"{name!r} is not a verdict field of task {task.name!r}")
    missing = [v[0] for v in wanted if v[0] not in run_ids]
    if missing:
        raise BadGridQuery(f"model {missing[0]!r} has no run on this dataset")
    query = GridQuery(dataset_id, run_ids, fields, filter, q or None, only, diff_field, wanted, sort)
    rows, next_cursor = grid_page(store, query, cursor=cursor, limit=limit)
    for row in rows:  # models selected but never run still get a column
        for column in columns:
            row["models"].setdefault(column["id"], None)
    return {
        "dataset": {"id": dataset.id, "name": dataset.name, "count": dataset.record_count},
        "task": {"name": task.name, "version": task.version, "fields": task.field_names, "schema": task.output_schema,
                 "verdict_fields": dict(task.verdict_fields), "primary_verdict": task.primary_verdict},
        "models": columns,
        "results": [page_row(row) for row in rows],
        "next_cursor": next_cursor,
        "counts": grid_counts(store, GridQuery(dataset_id, run_ids, fields, "all", q or None, None, diff_field,
                                              wanted)) if counts else None,
        "last_event_id": last_event_id(store),
    }


def page_row(row: dict[str, Any]) -> dict[str, Any]:
    """A grid row with the seed's key names, in the same order."""
    return {ROW_KEYS.get(key, key): value for key, value in row.items()}


def _parse_verdict(text: str) -> tuple[str, str, str]:
    model, _, rest = text.partition(":")
    field, _, value = rest.partition("=")
    if not (model and field and value):
        raise BadGridQuery(f"verdict filter {text!r} must look like model:field=value")
    return model, field, value


def _columns(store: Store, model_ids: list[str], runs: dict[str, RunInfo]) -> list[dict[str, Any]]:
    """A column per model: its name (configured, else its run's, else its id) and its run's progress."""
    configured = {m.id: m for m in list_models(store)}
    columns = []
    for model_id in model_ids:
        run = runs.get(model_id)
        name = configured[model_id].name if model_id in configured else (run.model.name if run else model_id)
        columns.append(_column(store, model_id, name, run))
    return columns


def _column(store: Store, model_id: str, name: str, run: RunInfo | None) -> dict[str, Any]:
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

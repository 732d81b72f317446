"""The grid use case: records × the selected columns (runs), a page at a time, with filter counts.

``grid_view`` checks the query beyond its types, resolves each column to its run, picks the task, and
shapes the answer of ``GET /api/workbench``. Rows are records (``record_id``, ``title``,
``subtitle``) everywhere inside; the seed's ``candidate_*`` keys are put on here, at the one
boundary that answers the page.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from workbench.domain.columns import column_labels, shared_verdict_fields
from workbench.domain.errors import InvalidInput
from workbench.domain.model_ids import RUN_PREFIX, parse_column_ids
from workbench.domain.tasks import DEFAULT_TASK
from workbench.grid.counts import grid_counts
from workbench.grid.drill import drill_seqs
from workbench.grid.page import grid_page
from workbench.grid.selection import FILTERS, SORTS, GridQuery, parse_cursor, parse_seqs
from workbench.service.columns import model_names
from workbench.service.judges import suggestions as judge_suggestions
from workbench.service.drills import describe_drill, parse_drill, resolve_drill
from workbench.store.datasets import get_dataset
from workbench.store.db import Store
from workbench.store.results import last_event_id, latest_progress
from workbench.store.runs import RunInfo, column_runs
from workbench.store.tasks import get_task

MAX_VERDICTS = 32
# The page's row keys (the seed's names) for the record fields of a row.
ROW_KEYS = {"record_id": "candidate_id", "title": "candidate_name", "subtitle": "candidate_title"}


class BadGridQuery(InvalidInput):
    """A filter, sort, verdict filter or field that this grid doesn't have."""


def grid_view(store: Store, dataset_id: str, *, models: str | None = None, filter: str = "all",
              q: str | None = None, cursor: str | None = None, limit: int = 50, counts: bool = True,
              seqs: str | None = None, diff_field: str | None = None, verdicts: list[str] | None = None,
              sort: str = "record", drill: dict[str, str | None] | None = None) -> dict[str, Any]:
    """One page of the grid and what the page shows around it (dataset, task, model columns, counts).

    ``models`` is "a,run:7" (column ids: a model id is its latest run; None: the latest run of
    every model run on the dataset; "": no columns); ``seqs`` "3,17" refreshes just those rows;
    each of ``verdicts`` is "column:field=value". The task shown is the first column's; the
    columns are compared on the verdict fields their tasks share. ``drill`` holds the drill-down
    params (service/drills.py): the rows and counts are then those of the Metrics figure's records."""
    chosen = grid_selection(store, dataset_id, models=models, filter=filter, q=q, cursor=cursor, seqs=seqs,
                            diff_field=diff_field, verdicts=verdicts, sort=sort, drill=drill)
    query, dataset, task, columns = chosen.query, chosen.dataset, chosen.task, chosen.columns
    # Read before the rows: every event after it may be missing from them, none before it is.
    seen_up_to = last_event_id(store)
    rows, next_cursor = grid_page(store, query, cursor=cursor, limit=limit,
                                  judged=lambda seqs: judge_suggestions(store, dataset_id, query.run_ids, seqs))
    for row in rows:  # models selected but never run still get a column
        for shown in columns:
            row["models"].setdefault(shown["id"], None)
    return {
        "dataset": {"id": dataset.id, "name": dataset.name, "count": dataset.record_count},
        "task": {"name": task.name, "version": task.version, "fields": task.field_names, "schema": task.output_schema,
                 "verdict_fields": dict(task.verdict_fields), "primary_verdict": task.primary_verdict},
        "models": columns,
        "results": [page_row(row) for row in rows],
        "next_cursor": next_cursor,
        "counts": grid_counts(store, dataclasses.replace(query, filter="all", seqs=None, sort="record"))
        if counts else None,
        "drill": chosen.drill,
        "last_event_id": seen_up_to,
    }


@dataclass(frozen=True)
class Selection:
    """A grid query checked and resolved: its columns' runs, the task shown, the drill's records."""

    query: GridQuery
    dataset: Any
    task: Any
    runs: dict[str, RunInfo]
    columns: list[dict[str, Any]]
    drill: dict[str, Any] | None  # {description, count} of a drill-down


def grid_selection(store: Store, dataset_id: str, *, models: str | None = None, filter: str = "all",
                   q: str | None = None, cursor: str | None = None, seqs: str | None = None,
                   diff_field: str | None = None, verdicts: list[str] | None = None, sort: str = "record",
                   drill: dict[str, str | None] | None = None) -> Selection:
    """The grid's query from the page's params (see ``grid_view``), checked beyond their types:
    what the grid shows, and what a bulk action marks (service/bulk.py)."""
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
    selected = parse_column_ids(models)
    runs = column_runs(store, dataset_id, selected)
    run_ids = {column: run.id for column, run in runs.items()}
    columns = _columns(store, selected if selected is not None else list(runs), runs)
    tasks = {(run.task_name, run.task_version): get_task(store, run.task_name, run.task_version)
             for run in runs.values()}
    first = next(iter(runs.values()), None)
    task = tasks[first.task_name, first.task_version] if first else get_task(store, DEFAULT_TASK)
    fields, comparable = shared_verdict_fields(task, list(tasks.values()))
    if diff_field is not None and diff_field not in dict(task.verdict_fields):
        # A field of the first column's task only: columns whose task lacks it never differ on it.
        raise BadGridQuery(f"{diff_field!r} is not a verdict field of task {task.name!r}")
    missing = [v[0] for v in wanted if v[0] not in run_ids]
    if missing:
        raise BadGridQuery(f"column {missing[0]!r} is not shown or has no run on this dataset")
    for column, name, _ in wanted:
        run = runs[column]
        if name not in dict(tasks[run.task_name, run.task_version].verdict_fields):
            raise BadGridQuery(f"{name!r} is not a verdict field of task {run.task_name!r} (column {column!r})")
    asked = parse_drill(drill or {})
    within, shown_drill = None, None
    if asked is not None:
        chosen = resolve_drill(asked, task, run_ids)
        within = drill_seqs(store, dataset_id, run_ids, chosen)
        labels = {c["id"]: c["label"] for c in columns}
        shown_drill = {"description": describe_drill(chosen, labels), "count": len(within)}
    text_verdicts = all(isinstance(value, str) and value for t in tasks.values() for _, values in t.verdict_fields
                        for value in values)
    query = GridQuery(dataset_id, run_ids, fields, filter, q or None, only, diff_field, wanted, sort,
                      comparable_keys=comparable, within=within, text_verdicts=text_verdicts)
    return Selection(query, dataset, task, runs, columns, shown_drill)


def page_row(row: dict[str, Any]) -> dict[str, Any]:
    """A grid row with the seed's key names, in the same order."""
    return {ROW_KEYS.get(key, key): value for key, value in row.items()}


def _parse_verdict(text: str) -> tuple[str, str, str]:
    """ "column:field=value", the column a model id or run:ID."""
    prefix = RUN_PREFIX if text.startswith(RUN_PREFIX) else ""
    model, _, rest = text[len(prefix):].partition(":")
    field, _, value = rest.partition("=")
    if not (model and field and value):
        raise BadGridQuery(f"verdict filter {text!r} must look like column:field=value (e.g. olmo:recommendation=No)")
    return prefix + model, field, value


def _columns(store: Store, column_ids: list[str], runs: dict[str, RunInfo]) -> list[dict[str, Any]]:
    """A column per id asked: its model's name (configured, else its run's, else its id), its run's
    progress and what sets it apart (task, few-shot, label)."""
    names = model_names(store)
    shown = list({run.id: run for run in runs.values()}.values())
    labels = dict(zip([run.id for run in shown], column_labels(run.variant(names.get(run.model_id))
                                                               for run in shown), strict=True))
    columns = []
    for column_id in column_ids:
        run = runs.get(column_id)
        if run is None:  # a model never run here
            name = names.get(column_id, column_id)
            columns.append(_column(store, column_id, name, None) | {"model_id": column_id, "task": None,
                                                                    "few_shot": 0, "label": name})
            continue
        name = run.variant(names.get(run.model_id)).model_name
        columns.append(_column(store, column_id, name, run) | {
            "model_id": run.model_id, "task": {"name": run.task_name, "version": run.task_version},
            "few_shot": run.few_shot, "label": labels[run.id]})
    return columns


def _column(store: Store, model_id: str, name: str, run: RunInfo | None) -> dict[str, Any]:
    if run is None:
        return {"id": model_id, "name": name, "status": "not run", "run_id": None, "progress": 0, "total": 0,
                "results_count": 0, "errors": 0, "throughput": 0.0, "tokens_per_s": 0.0, "eta_seconds": None}
    running = run.status == "running"
    live = (latest_progress(store, run.id) or {}) if running else {}  # a query per column: only when it moves
    return {
        "id": model_id, "name": name, "status": run.status, "status_reason": run.status_reason, "run_id": run.id,
        "progress": run.done, "total": run.total, "results_count": run.done, "errors": run.errors,
        "throughput": live.get("records_per_s", 0.0) if running else 0.0,
        "tokens_per_s": live.get("tokens_per_s", 0.0) if running else 0.0,
        "eta_seconds": live.get("eta_seconds") if running else None,
    }

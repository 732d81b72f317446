"""Exports and comparisons over the store: latest run per model, streamed through the domain writers."""

from __future__ import annotations

from pathlib import Path

from workbench.domain import exports
from workbench.domain.comparison import ComparisonSummary
from workbench.store.datasets import get_dataset
from workbench.store.db import Store
from workbench.store.runs import get_run
from workbench.store.tasks import get_task
from workbench.store.views import iter_record_results, latest_runs

KINDS = ("results",)


class NothingToExport(LookupError):
    pass


def _runs_for(store: Store, dataset_id: str, model_ids: list[str] | None) -> dict[str, int]:
    get_dataset(store, dataset_id)
    run_ids = latest_runs(store, dataset_id, model_ids)
    missing = [m for m in (model_ids or []) if m not in run_ids]
    if missing:
        raise NothingToExport(f"no runs of {', '.join(missing)} on dataset {dataset_id!r}")
    if not run_ids:
        raise NothingToExport(f"no runs on dataset {dataset_id!r} yet (start one with `workbench run`)")
    return run_ids


def output_fields(store: Store, run_ids: dict[str, int]) -> list[str]:
    """The union of the output fields of the tasks these runs used, in schema order."""
    fields: list[str] = []
    for run_id in run_ids.values():
        run = get_run(store, run_id)
        for name in get_task(store, run.task_name, run.task_version).field_names:
            if name not in fields:
                fields.append(name)
    return fields


def verdict_fields(store: Store, run_ids: dict[str, int]) -> list[str]:
    run = get_run(store, next(iter(run_ids.values())))
    return [name for name, _ in get_task(store, run.task_name, run.task_version).verdict_fields]


def export_results(store: Store, dataset_id: str, model_ids: list[str] | None, fmt: str, path: Path) -> int:
    """All results, one row per record × model; returns the number of rows written."""
    if fmt not in exports.FORMATS:
        raise ValueError(f"format must be one of {', '.join(exports.FORMATS)}")
    run_ids = _runs_for(store, dataset_id, model_ids)
    fields = output_fields(store, run_ids)
    items = iter_record_results(store, dataset_id, run_ids, with_data=fmt == "jsonl")
    if fmt == "jsonl":
        return exports.write_jsonl(exports.long_rows(items, fields, include_record=True), path)
    columns = exports.result_columns(fields)
    rows = exports.long_rows(items, fields)
    if fmt == "csv":
        return exports.write_csv(rows, path, columns)
    return exports.write_parquet(rows, path, columns)


def compare(store: Store, dataset_id: str, model_ids: list[str] | None) -> ComparisonSummary:
    run_ids = _runs_for(store, dataset_id, model_ids)
    if len(run_ids) < 2:
        raise NothingToExport("comparing needs at least two models with runs on this dataset")
    summary = ComparisonSummary(list(run_ids), verdict_fields(store, run_ids))
    for item in iter_record_results(store, dataset_id, run_ids, with_data=False):
        summary.add(item.outputs())
    return summary

"""Exports and comparisons over the store: the chosen columns (a model's latest run, or ``run:ID``),
streamed through the domain writers. ``model_ids`` here are column ids (domain/model_ids)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.domain import curated_exports as curated
from workbench.domain import exports, summary_export
from workbench.grid.curation import golden_examples, iter_curated
from workbench.domain.columns import shared_verdict_fields
from workbench.store.datasets import get_dataset
from workbench.store.db import Store
from workbench.store.runs import get_run
from workbench.store.tasks import get_task
from workbench.grid.views import iter_long_results, iter_record_results
from workbench.store.runs import column_runs
from workbench.domain.errors import NotFound
from workbench.service.preference_export import preference_rows
from workbench.scratch import scratch_path



class NothingToExport(NotFound):
    pass


def column_run_ids(store: Store, dataset_id: str, model_ids: list[str] | None) -> dict[str, int]:
    """Column id -> run for these columns (model ids: their latest runs; ``run:ID``: that run)."""
    get_dataset(store, dataset_id)
    run_ids = {column: run.id for column, run in column_runs(store, dataset_id, model_ids).items()}
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
    """The verdict fields the columns are compared on: the first column's task's that every
    column's task has (as in the grid)."""
    tasks = [first_task(store, {"": run_id}) for run_id in dict.fromkeys(run_ids.values())]
    return shared_verdict_fields(tasks[0], tasks)[0]


def export_results(store: Store, dataset_id: str, model_ids: list[str] | None, fmt: str, path: Path,
                   layout: str = "long") -> int:
    """All results: one row per record × model ("long") or per record ("wide"); returns rows written."""
    if fmt not in exports.FORMATS:
        raise ValueError(f"format must be one of {', '.join(exports.FORMATS)}")
    run_ids = column_run_ids(store, dataset_id, model_ids)
    fields = output_fields(store, run_ids)
    if layout == "wide":
        models = list(run_ids)
        rows = curated.wide_rows(iter_record_results(store, dataset_id, run_ids, with_data=False), models, fields)
        return _write(rows, path, fmt, curated.wide_columns(models, fields))
    if fmt != "jsonl" and not exports.shadows_columns(fields):  # plain tuples, no dict per result
        flat = iter_long_results(store, dataset_id, run_ids)
        columns = exports.result_columns(fields)
        if fmt == "csv":
            return exports.write_csv_values(exports.neutralised_long_values(flat, fields), path, columns,
                                            neutralised=True)
        return exports.write_parquet_values(exports.flat_long_values(flat, fields), path, columns)
    items = iter_record_results(store, dataset_id, run_ids, with_data=fmt == "jsonl")
    if fmt == "jsonl":
        return exports.write_jsonl(exports.long_rows(items, fields, include_record=True), path)
    if fmt == "csv":
        return exports.write_csv_values(exports.long_values(items, fields), path, exports.result_columns(fields))
    return exports.write_parquet_values(exports.long_values(items, fields), path, exports.result_columns(fields))


def _write(rows, path: Path, fmt: str, columns: list[str]) -> int:
    if fmt == "jsonl":
        return exports.write_jsonl(rows, path)
    if fmt == "csv":
        return exports.write_csv(rows, path, columns)
    return exports.write_parquet(rows, path, columns)


def first_task(store: Store, run_ids: dict[str, int]):
    run = get_run(store, next(iter(run_ids.values())))
    return get_task(store, run.task_name, run.task_version)


def export(store: Store, kind: str, dataset_id: str, model_ids: list[str] | None, fmt: str | None, path: Path,
           *, layout: str = "long", examples: int = 5, judge: bool = False) -> int:
    """Any export kind, streamed to ``path``; returns the number of rows (or examples) written.
    ``judge``: the preferences export adds the judge's pairs (marked source "judge")."""
    fmt = exports.check_export(kind, fmt, layout, examples, judge)
    if kind == "results":
        return export_results(store, dataset_id, model_ids, fmt, path, layout)
    run_ids = column_run_ids(store, dataset_id, model_ids)
    if kind == "preferences":
        return exports.write_jsonl(preference_rows(store, dataset_id, run_ids, judge=judge), path)
    task = first_task(store, run_ids)
    if kind == "golden":
        items = iter_curated(store, dataset_id, run_ids, reference="golden", golden_only=True)
        return exports.write_jsonl(curated.golden_rows(items), path)
    if kind in ("training", "training-parquet"):
        items = iter_curated(store, dataset_id, run_ids, reference="golden", golden_only=True)
        if kind == "training":
            return exports.write_jsonl(curated.training_rows(task, items), path)
        return curated.write_hf_parquet(curated.training_rows(task, items, with_id=True), path)
    if kind == "few-shot":
        chosen = [(record, answer) for _, record, answer in golden_examples(store, dataset_id, limit=examples)]
        if not chosen:
            raise NothingToExport("no golden examples yet: mark some answers golden first")
        with exports.atomic_output(path, "w") as f:
            f.write(curated.few_shot_block(task, chosen) + "\n")
        return len(chosen)
    verdicts = verdict_fields(store, run_ids)
    if kind == "comparison":  # the models' own answers side by side (with the reference label), as /api/compare
        items = iter_curated(store, dataset_id, run_ids, with_data=False)
        rows = curated.comparison_rows(items, list(run_ids), verdicts)
        return exports.write_csv(rows, path, curated.comparison_columns(list(run_ids), verdicts))
    from workbench.service.metrics import compute_metrics

    metrics = compute_metrics(store, dataset_id, list(run_ids))
    return exports.write_csv(summary_export.summary_rows(metrics), path, summary_export.summary_columns())


@dataclass(frozen=True)
class ExportFile:
    path: Path  # a scratch file in the data dir: the caller sends it, then deletes it
    name: str  # the name to download it as
    fmt: str
    count: int


def export_file(store: Store, kind: str, dataset_id: str, model_ids: list[str] | None, fmt: str | None,
                *, layout: str = "long", examples: int = 5, judge: bool = False) -> ExportFile:
    """An export written to a scratch file (named after this process, see workbench.scratch), for a download."""
    fmt = exports.check_export(kind, fmt, layout, examples, judge)
    path = scratch_path(store.settings.ensure_data_dir() / "exports", f".{fmt}")
    try:
        count = export(store, kind, dataset_id, model_ids, fmt, path, layout=layout, examples=examples, judge=judge)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return ExportFile(path, exports.export_file_name(dataset_id, kind, fmt, layout), fmt, count)

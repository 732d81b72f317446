"""The figures over the chosen columns: per-model health, agreement, accuracy against labels, win
rates, confusion (``compute_metrics``), zero-shot vs few-shot (``icl_comparison``) and the
comparison summary (``compare``). ``model_ids`` are column ids (domain/model_ids)."""

from __future__ import annotations

from workbench.domain.comparison import ComparisonSummary
from workbench.domain.metrics import MetricsAccumulator
from workbench.grid.curation import iter_curated
from workbench.grid.views import iter_record_results
from workbench.service.exports import NothingToExport, column_run_ids, first_task, verdict_fields
from workbench.store.db import Store
from workbench.store.runs import get_run


def metrics(store: Store, dataset_id: str, model_ids: list[str] | None) -> dict:
    """The Metrics panel's figures: ``compute_metrics`` and zero-shot vs few-shot where a model has both."""
    from workbench.service.few_shot_gain import icl_comparison

    return compute_metrics(store, dataset_id, model_ids) | {"icl": icl_comparison(store, dataset_id)}


def compute_metrics(store: Store, dataset_id: str, model_ids: list[str] | None) -> dict:
    """Per-model figures, agreement with kappa, accuracy against labels, win rate, confusion: on the
    models' own answers (a correction is a reference label here, never the model's answer). The
    grid's drill-down (grid/drill.py) selects records with the same per-record functions."""
    run_ids = column_run_ids(store, dataset_id, model_ids)
    task = first_task(store, run_ids)
    accumulator = MetricsAccumulator(list(run_ids), dict(task.verdict_fields), task.primary_verdict)
    for item in iter_curated(store, dataset_id, run_ids, with_data=False):
        outputs = {m: (r["output"] if r and r["status"] == "ok" else None) for m, r in item.results.items()}
        accumulator.add(outputs=outputs, results=item.results, reference=item.reference, preference=item.preference)
    result = accumulator.to_dict()
    result["costs"] = {m: get_run(store, run_id).cost for m, run_id in run_ids.items()}
    return result


def compare(store: Store, dataset_id: str, model_ids: list[str] | None) -> ComparisonSummary:
    """Agreement between the columns on their models' own answers (not as corrected: this
    measures the models; the grid's "differences" follow corrections)."""
    run_ids = column_run_ids(store, dataset_id, model_ids)
    if len(run_ids) < 2:
        raise NothingToExport("comparing needs at least two columns (models or runs) with runs on this dataset")
    summary = ComparisonSummary(list(run_ids), verdict_fields(store, run_ids))
    for item in iter_record_results(store, dataset_id, run_ids, with_data=False):
        summary.add(item.outputs())
    return summary

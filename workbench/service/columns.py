"""The grid's columns: every run of a dataset is one (a variant: model × task version × few-shot ×
parameters), labelled readably; by default the latest run of each model."""

from __future__ import annotations

from typing import Any

from workbench.domain.columns import column_labels
from workbench.domain.model_ids import run_column
from workbench.store.datasets import get_dataset
from workbench.store.db import Store
from workbench.store.models import list_models
from workbench.store.runs import RunInfo, latest_runs, list_runs


def model_names(store: Store) -> dict[str, str]:
    """Model id -> its configured display name."""
    return {m.id: m.name for m in list_models(store) if m.name}


def describe(run: RunInfo, label: str, name: str, *, latest: bool) -> dict[str, Any]:
    """A run as a column the page may show (``GET /api/columns``)."""
    return {"id": run_column(run.id), "run_id": run.id, "model_id": run.model_id, "model_name": name,
            "task": {"name": run.task_name, "version": run.task_version}, "few_shot": run.few_shot,
            "params": run.model.params.to_dict(), "status": run.status, "done": run.done, "total": run.total,
            "created_at": run.created_at, "label": label, "latest": latest}


def list_columns(store: Store, dataset_id: str) -> list[dict[str, Any]]:
    """Every run of the dataset, newest first; ``latest`` marks the default columns. The labels
    name what sets any of these runs apart."""
    get_dataset(store, dataset_id)
    runs = sorted(list_runs(store, dataset_id=dataset_id), key=lambda run: run.id, reverse=True)
    latest = set(latest_runs(store, dataset_id).values())
    names = model_names(store)
    variants = [run.variant(names.get(run.model_id)) for run in runs]
    return [describe(run, label, variant.model_name, latest=run.id in latest)
            for run, variant, label in zip(runs, variants, column_labels(variants), strict=True)]

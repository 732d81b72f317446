"""People agree with people: each annotator's standing labels (from the log) compared, per field,
for the columns shown; the grid's drill ``annotators`` lists the records counted as disagreements."""

from __future__ import annotations

from typing import Any

from workbench.domain.annotator_agreement import disagreeing_on_any, field_agreement
from workbench.domain.model_ids import parse_column_ids
from workbench.store.annotator_labels import AGREEMENT_FIELDS, standing_labels
from workbench.store.datasets import get_dataset
from workbench.store.db import Store
from workbench.store.runs import column_runs


def annotator_agreement(store: Store, dataset_id: str, models: str | None = None) -> dict[str, Any]:
    """``{annotators, fields: {judgement, golden, preference: figures}, disagreements}`` for the columns
    ``models`` names (as the grid takes them: None, the latest run of every model). A field nobody
    labelled twice has n 0; ``disagreements`` (records where annotators disagree on any field) is
    what ``drill=annotators`` lists, and each field's its ``drill_field``."""
    get_dataset(store, dataset_id)
    run_ids = {column: run.id for column, run in column_runs(store, dataset_id, parse_column_ids(models)).items()}
    labels = standing_labels(store, dataset_id, run_ids.values())
    fields = {field: field_agreement(labels[field]) for field in AGREEMENT_FIELDS}
    names = sorted({name for figures in fields.values() for name in figures["annotators"]})
    return {"dataset_id": dataset_id, "columns": list(run_ids), "annotators": names, "fields": fields,
            "disagreements": len(disagreeing_on_any(labels, AGREEMENT_FIELDS))}

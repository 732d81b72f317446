"""The grid's columns: the runs of a dataset, each a variant (model × task version × few-shot × parameters)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from workbench.service import columns
from workbench.web.access import VIEWER, needs

router = APIRouter(tags=["workbench"])


@router.get("/columns", **needs(VIEWER))
def columns_list(request: Request, dataset_id: str) -> list[dict]:
    """Every run of the dataset, newest first, as a column the grid can show (``models=run:ID``),
    with a readable label; ``latest`` marks the latest run of each model (the default columns)."""
    return columns.list_columns(request.app.state.store, dataset_id)

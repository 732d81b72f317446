"""The grid's columns: the runs of a dataset, each a variant (model × task version × few-shot × parameters)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["workbench"])

"""Annotations: set one (golden, judgement, correction, preference, note), undo, read the log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from workbench.service import curation
from workbench.web.errors import DatabaseId

router = APIRouter(tags=["annotations"])


class Annotate(BaseModel):
    dataset_id: str
    record_id: str
    run_id: DatabaseId | None = Field(None, description="the run whose answer this is about (answer-level fields)")
    model_id: str = Field("", max_length=200, description="or a model: its latest run on the dataset")
    field: str = Field(description="golden | judgement | correction | preference | note")
    value: Any = None
    author: str | None = Field(None, max_length=100)


class Undo(BaseModel):
    dataset_id: str
    event_id: DatabaseId | None = None
    author: str | None = Field(None, max_length=100)


@router.post("/annotations", status_code=201)
def annotations_set(request: Request, body: Annotate) -> dict:
    """Saved at once; every open page hears about it on the live socket."""
    return curation.annotate(request.app.state.store, dataset_id=body.dataset_id, record_id=body.record_id,
                             run_id=body.run_id, model_id=body.model_id, field=body.field, value=body.value,
                             author=body.author)


@router.post("/annotations/undo")
def annotations_undo(request: Request, body: Undo) -> dict:
    """Undo an event, or by default the author's latest change in the dataset."""
    return curation.undo(request.app.state.store, dataset_id=body.dataset_id, author=body.author,
                         event_id=body.event_id)


@router.get("/annotations")
def annotations_log(request: Request, dataset_id: str, record_id: str | None = None) -> list[dict]:
    """The log (newest first): who, when, what, before and after."""
    return curation.history(request.app.state.store, dataset_id, record_id)

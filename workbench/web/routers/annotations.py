"""Annotations: set one (golden, judgement, correction, preference, note), undo, read the log."""

from __future__ import annotations

import getpass
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from workbench.store.annotations import annotate, history, undo
from workbench.store.models import list_models
from workbench.web.errors import DatabaseId

router = APIRouter(tags=["annotations"])


def default_author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


class Annotate(BaseModel):
    dataset_id: str
    record_id: str
    model_id: str = ""
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
    store = request.app.state.store
    return annotate(store, dataset_id=body.dataset_id, record_id=body.record_id, model_id=body.model_id,
                    field=body.field, value=body.value, author=body.author or default_author(),
                    models=[m.id for m in list_models(store)])


@router.post("/annotations/undo")
def annotations_undo(request: Request, body: Undo) -> dict:
    """Undo an event, or by default the author's latest change in the dataset."""
    return undo(request.app.state.store, dataset_id=body.dataset_id, author=body.author or default_author(),
                event_id=body.event_id)


@router.get("/annotations")
def annotations_log(request: Request, dataset_id: str, record_id: str | None = None) -> list[dict]:
    """The log (newest first): who, when, what, before and after."""
    return history(request.app.state.store, dataset_id, record_id)

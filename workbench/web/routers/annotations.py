"""Annotations: set one (golden, judgement, correction, preference, note, reviewed), mark a filtered
set at once (bulk), undo, read the log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from workbench.service import bulk, curation
from workbench.web.errors import DatabaseId
from workbench.web.params import MAX_SEARCH_CHARS
from workbench.web.access import ANNOTATOR, VIEWER, author_of, may_undo_others, needs

router = APIRouter(tags=["annotations"])


class Annotate(BaseModel):
    dataset_id: str
    record_id: str
    run_id: DatabaseId | None = Field(None, description="the run whose answer this is about (answer-level fields)")
    model_id: str = Field("", max_length=200, description="or a model: its latest run on the dataset")
    field: str = Field(description="golden | judgement | correction | preference | note")
    value: Any = None
    author: str | None = Field(None, max_length=100, description="ignored when accounts are on: the signed-in user")


class Undo(BaseModel):
    dataset_id: str
    event_id: DatabaseId | None = None
    author: str | None = Field(None, max_length=100)


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not hold a NUL character")
    return value


Text = Annotated[str | None, Field(max_length=1000), AfterValidator(_no_nul)]


class Bulk(BaseModel):
    """A bulk action and the grid's query it marks (the params of GET /api/workbench, as JSON)."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: Annotated[str, Field(max_length=200), AfterValidator(_no_nul)]
    action: str = Field(max_length=40, description="reviewed | golden | wrong")
    column: Text = Field(None, description="golden / wrong: the column whose answers are marked")
    confirm: bool = Field(False, description="false: only count; true: write the group")
    author: Annotated[str | None, Field(max_length=100), AfterValidator(_no_nul)] = None
    models: Annotated[str | None, Field(max_length=10_000), AfterValidator(_no_nul)] = None
    filter: str = Field("all", max_length=40)
    q: Annotated[str | None, Field(max_length=MAX_SEARCH_CHARS), AfterValidator(_no_nul)] = None
    sort: str | None = Field(None, max_length=40, description="ignored: a bulk marks the set, in no order")
    diff_field: Text = None
    verdict: list[Annotated[str, Field(max_length=1000), AfterValidator(_no_nul)]] | None = Field(None, max_length=32)
    drill: Text = None
    drill_column: Text = None
    drill_columns: Text = None
    drill_field: Text = None
    drill_label: Text = None
    drill_answer: Text = None
    drill_agree: Text = None


@router.post("/annotations/bulk", **needs(ANNOTATOR))
def annotations_bulk(request: Request, body: Bulk) -> dict:
    """Mark every record the grid shows for this query: first ``confirm: false`` (a count, nothing
    written), then ``confirm: true`` (one group in the log, undone together by Undo)."""
    drill = {key: getattr(body, key) for key in ("drill", "drill_column", "drill_columns", "drill_field",
                                                 "drill_label", "drill_answer", "drill_agree")}
    return bulk.bulk_annotate(request.app.state.store, dataset_id=body.dataset_id, action=body.action,
                              column=body.column or None, confirm=body.confirm, author=author_of(request, body.author),
                              models=body.models, filter=body.filter, q=body.q, diff_field=body.diff_field or None,
                              verdicts=body.verdict, drill=drill)


@router.post("/annotations", status_code=201, **needs(ANNOTATOR))
def annotations_set(request: Request, body: Annotate) -> dict:
    """Saved at once; every open page hears about it on the live socket."""
    return curation.annotate(request.app.state.store, dataset_id=body.dataset_id, record_id=body.record_id,
                             run_id=body.run_id, model_id=body.model_id, field=body.field, value=body.value,
                             author=author_of(request, body.author))


@router.post("/annotations/undo", **needs(ANNOTATOR))
def annotations_undo(request: Request, body: Undo) -> dict:
    """Undo an event, or by default the author's latest change in the dataset."""
    return curation.undo(request.app.state.store, dataset_id=body.dataset_id, author=author_of(request, body.author),
                         event_id=body.event_id, others=may_undo_others(request))


@router.get("/annotations", **needs(VIEWER))
def annotations_log(request: Request, dataset_id: str, record_id: str | None = None) -> list[dict]:
    """The log (newest first): who, when, what, before and after."""
    return curation.history(request.app.state.store, dataset_id, record_id)

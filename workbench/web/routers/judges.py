"""Judges: start one (two runs of a judge model, one per order), list them with progress, and see
how far each agrees with people."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from workbench.domain.judging import DEFAULT_RUBRIC, MAX_RUBRIC
from workbench.service import judges as service
from workbench.web.errors import DatabaseId
from workbench.web.access import ADMIN, VIEWER, audited, needs

router = APIRouter(tags=["judges"])


class StartJudge(BaseModel):
    dataset_id: str = Field(max_length=200)
    models: list[str] = Field(min_length=2, max_length=2, description="the two columns judged (model id or run:ID)")
    judge: str = Field(max_length=200, description="the judge's model id")
    rubric: str | None = Field(None, max_length=MAX_RUBRIC, description="default: a general rubric")


@router.post("/judges", status_code=201, **needs(ADMIN))
def judges_start(request: Request, body: StartJudge) -> dict:
    """Both orders' runs queued; the runner executes them like any run (durable, resumable, cached)."""
    pair = service.start_judge(request.app.state.store, body.dataset_id, body.models, body.judge, body.rubric)
    request.app.state.runner.wake()
    view = service.judge_view(pair)
    audited(request, "judge.create", view.get("id", ""), {"dataset_id": body.dataset_id, "models": body.models,
                                                          "judge": body.judge})
    return view


@router.get("/judges", **needs(VIEWER))
def judges_list(request: Request, dataset_id: str) -> list[dict]:
    return [service.judge_view(pair) for pair in service.list_judges(request.app.state.store, dataset_id)]


@router.get("/judges/rubric", **needs(VIEWER))
def judges_default_rubric() -> dict:
    """The rubric a judge uses unless given one (the page prefills its editor with it)."""
    return {"rubric": DEFAULT_RUBRIC, "max_length": MAX_RUBRIC}


@router.get("/judges/{judge_id}", **needs(VIEWER))
def judge_get(request: Request, judge_id: DatabaseId) -> dict:
    return service.judge_view(service.get_judge(request.app.state.store, judge_id))


@router.get("/judges/{judge_id}/agreement", **needs(VIEWER))
def judge_agreement(request: Request, judge_id: DatabaseId) -> dict:
    """The judge against people's preferences between its two columns: percent and kappa with 95%
    intervals, n, and its position consistency rate."""
    return service.judge_agreement(request.app.state.store, judge_id)

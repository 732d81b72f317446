"""Runs: start one or many, list, pause, resume, cancel, retry errors."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from workbench.domain.json_rules import INT64_MAX
from workbench.domain.tasks import DEFAULT_TASK
from workbench.service import runs as service
from workbench.service.runs import RunInfo, RunOptions
from workbench.web.errors import DatabaseId
from workbench.web.access import ADMIN, VIEWER, audited, needs

router = APIRouter(tags=["runs"])


class StartRuns(BaseModel):
    dataset_id: str
    model_ids: list[str] = Field(min_length=1)
    task: str = Field(DEFAULT_TASK, max_length=200)
    task_version: int | None = Field(None, ge=1, le=INT64_MAX, description="default: the task's latest version")
    allow_missing_fields: bool = Field(False, description="run even if the task uses fields the dataset lacks")
    limit: int | None = Field(None, ge=1, le=INT64_MAX)
    fresh: bool = False
    concurrency: int | None = Field(None, ge=1, le=1024)
    few_shot: int = Field(0, ge=0, le=50, description="golden examples shown before each record")
    examples_from: str | None = Field(None, description="dataset holding the golden examples (default: this one)")


def run_view(run: RunInfo) -> dict:
    data = asdict(run)
    data["model"] = {"id": run.model.id, "name": run.model.name, "provider": run.model.provider}
    data.pop("lease_owner")
    # The frozen examples hold whole records and answers: a listing names them (the trace shows them).
    if data["options"].get("examples"):
        data["options"] = data["options"] | {"examples": [example[0] for example in data["options"]["examples"]]}
    return data


@router.get("/runs", **needs(VIEWER))
def runs_list(request: Request, dataset_id: str | None = None) -> list[dict]:
    # An empty dataset_id (`?dataset_id=`) means none, as it always has.
    return [run_view(r) for r in service.list_runs(request.app.state.store, dataset_id or None)]


@router.post("/runs", status_code=201, **needs(ADMIN))
def runs_start(request: Request, body: StartRuns) -> list[dict]:
    """One run per model; an unfinished run of the same model and dataset continues instead. A task
    using fields the dataset lacks is refused (422 with `missing_fields`) unless allow_missing_fields."""
    options = RunOptions(limit=body.limit, fresh=body.fresh, concurrency=body.concurrency, few_shot=body.few_shot,
                         examples_from=body.examples_from)
    runs = service.start_runs(request.app.state.store, body.dataset_id, body.model_ids, body.task, options,
                              task_version=body.task_version, allow_missing_fields=body.allow_missing_fields)
    request.app.state.runner.wake()
    for run in runs:
        audited(request, "run.start", run.id,
                {"dataset_id": body.dataset_id, "model_id": run.model_id, "task": body.task})
    return [run_view(r) for r in runs]


@router.get("/runs/{run_id}", **needs(VIEWER))
def run_get(request: Request, run_id: DatabaseId) -> dict:
    return run_view(service.get_run(request.app.state.store, run_id))


@router.post("/runs/{run_id}/{action}", **needs(ADMIN))
def run_control(request: Request, run_id: DatabaseId, action: str) -> dict:
    """pause, resume, cancel or retry-errors."""
    run = service.control_run(request.app.state.store, run_id, action)
    request.app.state.runner.wake()
    audited(request, f"run.{action}", run_id)
    return run_view(run)

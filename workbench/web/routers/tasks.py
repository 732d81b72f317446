"""Tasks: list, read, and save a new version."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from workbench.service import tasks
from workbench.web.errors import DatabaseId
from workbench.web.access import ADMIN, VIEWER, audited, needs

router = APIRouter(tags=["tasks"])


@router.get("/tasks", **needs(VIEWER))
def tasks_list(request: Request) -> list[dict]:
    return [tasks.task_view(t) for t in tasks.list_tasks(request.app.state.store)]


@router.get("/tasks/{name}", **needs(VIEWER))
def task_get(request: Request, name: str, version: DatabaseId | None = None) -> dict:
    return tasks.task_view(tasks.get_task(request.app.state.store, name, version))


class TaskBody(BaseModel):
    """A task as GET /api/tasks/{name} gives it (its version and verdict fields are ignored);
    the domain refuses unknown keys by name."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(max_length=200)
    system: str
    user: str
    output_schema: dict[str, Any]
    primary_verdict: str | None = None
    description: str = ""
    version: Any = None
    verdict_fields: Any = None


@router.post("/tasks", status_code=201, **needs(ADMIN))
def task_save(request: Request, body: TaskBody) -> dict:
    """Save a task; a changed definition becomes a new version, results keep theirs."""
    saved = tasks.save_task(request.app.state.store, body.model_dump(exclude={"version", "verdict_fields"})).to_dict()
    audited(request, "task.save", saved.get("name", ""), {"version": saved.get("version")})
    return saved


@router.get("/task-starters", **needs(VIEWER))
def task_starters() -> list[dict]:
    """Starting points for a new task: classification, sentiment, extraction, a 1–5 rating, candidate screening."""
    return tasks.starters()


class PreviewBody(BaseModel):
    task: Any = Field(description="the draft, as the editor holds it (any part may be broken)")
    dataset_id: str = Field(max_length=200)
    record_id: str | None = Field(None, max_length=2000, description="default: the dataset's first record")


@router.post("/tasks/preview", **needs(VIEWER))
def task_preview(request: Request, body: PreviewBody) -> dict:
    """The draft's messages for one record; template errors and missing fields are problems, not errors."""
    return tasks.preview_task(request.app.state.store, body.task, body.dataset_id, body.record_id)


class TryBody(BaseModel):
    task: Any = Field(description="the draft (it must be a valid task)")
    dataset_id: str = Field(max_length=200)
    model_id: str = Field(max_length=200)
    count: int = Field(3, ge=1, le=tasks.TRY_MAX_RECORDS, description="the dataset's first N records")
    record_ids: list[Annotated[str, Field(max_length=2000)]] | None = Field(None, max_length=tasks.TRY_MAX_RECORDS)
    timeout_s: float = Field(60.0, gt=0, le=300)


@router.post("/tasks/try", **needs(ADMIN))
async def task_try(request: Request, body: TryBody) -> list[dict]:
    """The draft asked for real on a few records; nothing is written (it is not a run)."""
    answers = await tasks.try_task(request.app.state.store, body.task, body.dataset_id, body.model_id, body.count,
                                   body.record_ids, body.timeout_s)
    await to_thread.run_sync(audited, request, "task.try", body.model_id, {"dataset_id": body.dataset_id,
                                                                            "records": len(answers)})
    return answers


@router.get("/tasks/{name}/versions", **needs(VIEWER))
def task_versions(request: Request, name: str) -> list[dict]:
    """Every version, newest first: when, what changed from the one before, and the YAML diff."""
    return tasks.task_versions(request.app.state.store, name)

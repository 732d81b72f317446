"""Tasks: list, read, and save a new version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from workbench.service import tasks
from workbench.web.errors import DatabaseId

router = APIRouter(tags=["tasks"])


@router.get("/tasks")
def tasks_list(request: Request) -> list[dict]:
    return [tasks.task_view(t) for t in tasks.list_tasks(request.app.state.store)]


@router.get("/tasks/{name}")
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


@router.post("/tasks", status_code=201)
def task_save(request: Request, body: TaskBody) -> dict:
    """Save a task; a changed definition becomes a new version, results keep theirs."""
    return tasks.save_task(request.app.state.store, body.model_dump(exclude={"version", "verdict_fields"})).to_dict()

"""Tasks: list, read, and save a new version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from workbench.domain.tasks import Task
from workbench.store.tasks import get_task, list_tasks, save_task
from workbench.web.errors import DatabaseId

router = APIRouter(tags=["tasks"])


@router.get("/tasks")
def tasks_list(request: Request) -> list[dict]:
    return [t.to_dict() | {"verdict_fields": t.verdict_fields} for t in list_tasks(request.app.state.store)]


@router.get("/tasks/{name}")
def task_get(request: Request, name: str, version: DatabaseId | None = None) -> dict:
    task = get_task(request.app.state.store, name, version)
    return task.to_dict() | {"verdict_fields": task.verdict_fields}


@router.post("/tasks", status_code=201)
def task_save(request: Request, body: dict[str, Any] = Body(...)) -> dict:
    """Save a task; a changed definition becomes a new version, results keep theirs."""
    body.pop("version", None)
    body.pop("verdict_fields", None)
    return save_task(request.app.state.store, Task.from_dict(body)).to_dict()

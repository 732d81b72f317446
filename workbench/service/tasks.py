"""Tasks: list, read, and save a new version (from the page's JSON or a YAML file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.domain.tasks import Task
from workbench.store import Store
from workbench.store import tasks as stored


def list_tasks(store: Store) -> list[Task]:
    """The latest version of each task."""
    return stored.list_tasks(store)


def get_task(store: Store, name: str, version: int | None = None) -> Task:
    return stored.get_task(store, name, version)


def task_view(task: Task) -> dict[str, Any]:
    """A task as the API gives it: its definition and its verdict fields with their values."""
    return task.to_dict() | {"verdict_fields": task.verdict_fields}


def save_task(store: Store, data: dict[str, Any]) -> Task:
    """A changed definition becomes a new version; results keep theirs."""
    return stored.save_task(store, Task.from_dict(data))


def save_task_file(store: Store, path: Path) -> Task:
    return stored.save_task(store, Task.from_yaml(path))

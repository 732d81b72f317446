"""Task versions: saving a changed definition makes a new version; old ones stay."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlalchemy as sa

from workbench.domain.tasks import BUILTIN_TASKS, Task, TaskError
from workbench.store.db import Store, store_cache, utcnow, write_transaction
from workbench.store.schema import tasks
from workbench.domain.errors import NotFound


class TaskNotFound(NotFound):
    pass


def _latest(conn: sa.Connection, name: str) -> sa.Row | None:
    return conn.execute(
        sa.select(tasks.c.version, tasks.c.content_hash)
        .where(tasks.c.name == name).order_by(tasks.c.version.desc()).limit(1)
    ).first()


def save_task(store: Store, task: Task) -> Task:
    """Store ``task``; returns it with its version (unchanged definitions keep theirs).

    Two saves of one task at once get versions N+1 and N+2: the version is read under the lock."""
    definition = task.to_dict()
    definition.pop("version")
    with store.engine.connect() as conn:  # unchanged (every start syncs the built-ins): no write lock
        latest = _latest(conn, task.name)
    if latest is not None and latest.content_hash == task.content_hash:
        return task.with_version(latest.version)
    with write_transaction(store, f"task:{task.name}") as conn:
        latest = _latest(conn, task.name)
        if latest is not None and latest.content_hash == task.content_hash:
            return task.with_version(latest.version)
        version = (latest.version if latest else 0) + 1
        conn.execute(tasks.insert().values(
            name=task.name, version=version, definition=orjson.dumps(definition).decode(),
            content_hash=task.content_hash, created_at=utcnow(),
        ))
    return task.with_version(version)


def get_task(store: Store, name: str, version: int | None = None) -> Task:
    """The task's ``version`` (default: its latest). A saved version never changes (a new
    definition is a new version, and none is deleted), so each is read once per store: every grid
    request asks for its columns' tasks."""
    saved: dict[tuple[str, int], Task] = store_cache(store, "store.task_versions", dict)
    if version and (name, version) in saved:
        return saved[name, version]
    with store.engine.connect() as conn:
        task = task_in(conn, name, version)
    if len(saved) >= _MAX_VERSIONS:
        saved.clear()
    saved[name, task.version] = task
    return task


_MAX_VERSIONS = 1024


def task_in(conn: sa.Connection, name: str, version: int | None = None) -> Task:
    """``get_task`` on the caller's connection: inside a write transaction, asking the pool for a
    second connection can wait on writers that wait for this one's lock."""
    query = sa.select(tasks.c.version, tasks.c.definition).where(tasks.c.name == name)
    query = query.where(tasks.c.version == version) if version else query.order_by(tasks.c.version.desc())
    row = conn.execute(query.limit(1)).first()
    if row is None:
        what = f"{name!r} version {version}" if version else repr(name)
        raise TaskNotFound(f"no task {what} (see `workbench tasks list`)")
    return Task.from_dict(orjson.loads(row.definition)).with_version(row.version)


def list_tasks(store: Store) -> list[Task]:
    """The latest version of every task."""
    latest = sa.select(tasks.c.name, sa.func.max(tasks.c.version).label("version")).group_by(tasks.c.name).subquery()
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(tasks.c.version, tasks.c.definition)
            .join(latest, sa.and_(tasks.c.name == latest.c.name, tasks.c.version == latest.c.version))
            .order_by(tasks.c.name)
        ).all()
    return [Task.from_dict(orjson.loads(r.definition)).with_version(r.version) for r in rows]


def sync_tasks(store: Store) -> list[str]:
    """Save built-in tasks and the YAML files in ``<data dir>/tasks``; returns problems found."""
    for task in BUILTIN_TASKS.values():
        save_task(store, task)
    problems = []
    task_dir = store.settings.data_dir / "tasks"
    for path in sorted(task_dir.glob("*.y*ml")) if task_dir.is_dir() else []:
        try:
            save_task(store, Task.from_yaml(Path(path)))
        except TaskError as exc:
            problems.append(str(exc))
    return problems


def task_versions(store: Store, name: str) -> list[tuple[Task, str]]:
    """Every version of a task, newest first, with when each was saved (``NotFound`` for no task)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(tasks.c.version, tasks.c.definition, tasks.c.created_at)
            .where(tasks.c.name == name).order_by(tasks.c.version.desc())
        ).all()
    if not rows:
        raise TaskNotFound(f"no task {name!r} (see `workbench tasks list`)")
    return [(Task.from_dict(orjson.loads(r.definition)).with_version(r.version), str(r.created_at)) for r in rows]

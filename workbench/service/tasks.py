"""Tasks: list, read, save a new version (from the page's JSON or a YAML file), start from a
starting point, preview a draft on a record, try it with a model, and list its versions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from workbench.domain.errors import Conflict, InvalidInput, NotFound
from workbench.domain.judging import JUDGE_TASK_PREFIX, is_judge_task
from workbench.domain.tasks import Task
from workbench.domain.template_fields import missing_fields
from workbench.store import Store
from workbench.store import tasks as stored
from workbench.store.datasets import get_dataset, get_record, iter_records
from workbench.store.models import get_model
from workbench.store.runs import JudgeTaskNotAnswerTask

# Field names are read from the dataset's first records (no field list is kept at import, and a
# request never reads a million records): a field counts as present when one of these has it.
FIELD_SAMPLE = 200
TRY_MAX_RECORDS = 5


def list_tasks(store: Store) -> list[Task]:
    """The latest version of each answer task (a judge's task is the judge's: service/judges)."""
    return [task for task in stored.list_tasks(store) if not is_judge_task(task.name)]


def _answer_task(task: Task) -> Task:
    """A task a person saves: the judges' reserved names are refused."""
    if is_judge_task(task.name):
        raise InvalidInput(f"task names starting with {JUDGE_TASK_PREFIX!r} are the judges'; pick another name")
    return task


def get_task(store: Store, name: str, version: int | None = None) -> Task:
    return stored.get_task(store, name, version)


def task_view(task: Task) -> dict[str, Any]:
    """A task as the API gives it: its definition and its verdict fields with their values."""
    return task.to_dict() | {"verdict_fields": task.verdict_fields}


def save_task(store: Store, data: dict[str, Any]) -> Task:
    """A changed definition becomes a new version; results keep theirs."""
    return stored.save_task(store, _answer_task(Task.from_dict(data)))


def save_task_file(store: Store, path: Path) -> Task:
    return stored.save_task(store, _answer_task(Task.from_yaml(path)))


def starters() -> list[dict[str, Any]]:
    """The starting points for a new task."""
    # Imported here: building the starters compiles four tasks (~20 ms) that `workbench run` never needs.
    from workbench.domain.task_starters import STARTERS

    return [starter.to_dict() for starter in STARTERS]


def new_task(store: Store, name: str, starter_id: str) -> Task:
    """A task named ``name`` saved from a starting point (a name already taken is refused)."""
    from workbench.domain.task_starters import get_starter

    definition = get_starter(starter_id).task.to_dict() | {"name": name}
    definition.pop("version")
    task = _answer_task(Task.from_dict(definition))
    try:
        stored.get_task(store, name)
    except NotFound:
        return stored.save_task(store, task)
    raise TaskExists(f"task {name!r} exists already (edit it, or pick another name)")


class TaskExists(Conflict):
    pass


def task_yaml_text(task: Task) -> str:
    from workbench.domain.task_changes import task_yaml  # YAML: not for `workbench run` (~8 ms to import)

    return task_yaml(task.to_dict())


def dataset_fields(store: Store, dataset_id: str) -> list[str]:
    """The dataset's field names, in order of first appearance in its first records."""
    get_dataset(store, dataset_id)
    seen: dict[str, None] = {}
    for record in iter_records(store, dataset_id, limit=FIELD_SAMPLE):
        seen.update(dict.fromkeys(record.data))
    return list(seen)


def fields_missing(store: Store, task: Task, dataset_id: str) -> list[str]:
    """The fields that make ``task`` unfit for the dataset (template_fields' rule); [] = fit. A judge's
    task fits no dataset as an answer task: refused, saying so (rather than naming its own inputs)."""
    if is_judge_task(task.name):
        raise JudgeTaskNotAnswerTask(task.name)
    return missing_fields(task, dataset_fields(store, dataset_id))


def _record(store: Store, dataset_id: str, record_id: str | None):
    if record_id is None:
        return next(iter(iter_records(store, dataset_id, limit=1)), None)
    record = get_record(store, dataset_id, record_id)
    if record is None:
        raise NotFound(f"no record {record_id!r} in dataset {dataset_id!r}")
    return record


def preview_task(store: Store, draft: Any, dataset_id: str, record_id: str | None = None) -> dict[str, Any]:
    """A draft on one record (default: the first): its messages, problems and missing fields."""
    if not isinstance(draft, dict):
        raise InvalidInput("the task must be an object (name, system, user, output_schema, …)")
    from workbench.domain.task_preview import preview  # as in task_yaml_text

    fields = dataset_fields(store, dataset_id)
    record = _record(store, dataset_id, record_id)
    result = preview(draft, record.data if record is not None else None, fields)
    return {"messages": result.messages, "record_id": record.record_id if record is not None else None,
            "problems": result.problems, "missing_fields": result.missing_fields,
            "absent_fields": result.absent_fields, "dataset_fields": fields, "yaml": result.yaml}


def task_versions(store: Store, name: str) -> list[dict[str, Any]]:
    """Every version, newest first, each with what changed from the one before and the YAML diff."""
    from workbench.domain.task_changes import changes, yaml_diff  # as in task_yaml_text

    versions = stored.task_versions(store, name)
    out = []
    for i, (task, created_at) in enumerate(versions):
        before = versions[i + 1][0] if i + 1 < len(versions) else None
        out.append({"version": task.version, "created_at": created_at, "changes": changes(before, task),
                    "diff": yaml_diff(before, task)})
    return out


async def try_task(store: Store, draft: Any, dataset_id: str, model_id: str, count: int = 3,
                   record_ids: list[str] | None = None, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The draft asked for real on a few records (nothing is written, it is not a run)."""
    from workbench.service.task_trying import try_on_records  # the runner's asking code (aiohttp) only here

    if not isinstance(draft, dict):
        raise InvalidInput("the task must be an object (name, system, user, output_schema, …)")
    task = Task.from_dict({k: v for k, v in draft.items() if k not in ("version", "verdict_fields")})
    model = await asyncio.to_thread(get_model, store, model_id)
    records = await asyncio.to_thread(_try_records, store, dataset_id, count, record_ids)
    return await try_on_records(model, task, [(r.seq, r.record_id, r.data) for r in records], timeout_s)


def _try_records(store: Store, dataset_id: str, count: int, record_ids: list[str] | None) -> list:
    get_dataset(store, dataset_id)
    if record_ids:
        if len(record_ids) > TRY_MAX_RECORDS:
            raise InvalidInput(f"try at most {TRY_MAX_RECORDS} records")
        return [_record(store, dataset_id, record_id) for record_id in dict.fromkeys(record_ids)]
    if not 1 <= count <= TRY_MAX_RECORDS:
        raise InvalidInput(f"count must be 1 to {TRY_MAX_RECORDS}")
    return list(iter_records(store, dataset_id, limit=count))

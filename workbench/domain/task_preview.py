"""A draft task on one record: the messages it would send, and what is wrong with it.

A draft is whatever the editor holds while the user types: any part may be broken. Each broken
part is a *problem* (where, line, message), and the messages are rendered whenever the templates
compile, with stand-ins for a broken name or schema, so the preview keeps up as the user types.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

import jinja2

from workbench.domain.errors import InvalidInput
from workbench.domain.task_changes import task_yaml
from workbench.domain.tasks import Task, TaskError, compile_template
from workbench.domain.template_fields import absent_fields, missing_fields, system_template_names

_TEMPLATES = (("system", "system template"), ("user", "user template"))


@dataclass
class Preview:
    messages: list[dict[str, str]]
    problems: list[dict[str, Any]] = field(default_factory=list)
    missing_fields: list[str] = field(default_factory=list)
    absent_fields: list[str] = field(default_factory=list)
    yaml: str = ""

    def problem(self, where: str, message: str, line: int | None = None) -> None:
        self.problems.append({"where": where, "line": line, "message": message})


def preview(draft: Any, record: dict[str, Any] | None, dataset_fields: list[str]) -> Preview:
    """Never raises for a broken draft (a draft that is not even an object is ``InvalidInput``)."""
    if not isinstance(draft, dict):
        raise InvalidInput("the task must be an object (name, system, user, output_schema, …)")
    result = Preview(messages=[])
    try:
        result.yaml = task_yaml(draft)
    except Exception as exc:  # noqa: BLE001 - a value YAML can't write is only a missing view
        result.problem("yaml", f"can't show as YAML: {type(exc).__name__}")
    templates_ok = True
    for key, where in _TEMPLATES:
        source = draft.get(key, "")
        if not isinstance(source, str):
            result.problem(where, "must be text")
            templates_ok = False
            continue
        try:
            compile_template(source)
        except jinja2.TemplateSyntaxError as exc:
            result.problem(where, exc.message or "syntax error", exc.lineno)
            templates_ok = False
        except Exception as exc:  # noqa: BLE001 - e.g. nesting too deep for the compiler
            result.problem(where, f"can't compile: {type(exc).__name__}")
            templates_ok = False
    if not templates_ok:
        return result
    task = _stand_in(draft, result)
    names = system_template_names(task.system)
    if names:
        result.problem("system template", f"uses {', '.join(names)}, which it never gets: the system prompt "
                                          "is the same for every record (it has schema_json and task)")
    result.missing_fields = missing_fields(task, dataset_fields)
    result.absent_fields = absent_fields(task, dataset_fields)
    if record is None:
        return result
    try:
        result.messages = task.render(record)
    except TaskError as exc:
        where, line = _failed_at(exc)
        result.problem(where, str(exc), line)
    return result


_STAND_INS = {"name": ("name", "draft"), "output_schema": ("output schema", {"type": "object"}),
              "primary_verdict": ("primary verdict", None)}
_KNOWN = {"name", "system", "user", "output_schema", "primary_verdict", "description", "version", "verdict_fields"}


def _stand_in(draft: dict[str, Any], result: Preview) -> Task:
    """The draft as a task, with a stand-in for each part that is not valid (and a problem for it)."""
    unknown = set(draft) - _KNOWN
    if unknown:
        result.problem("task", f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    parts = {"name": draft.get("name"), "system": draft.get("system", ""), "user": draft.get("user", ""),
             "output_schema": draft.get("output_schema"), "primary_verdict": draft.get("primary_verdict")}
    for key, kind in (("name", str), ("output_schema", dict), ("primary_verdict", (str, type(None)))):
        if not isinstance(parts[key], kind):
            where, parts[key] = _STAND_INS[key]
            result.problem(where, "missing" if draft.get(key) is None else "has the wrong type")
    for _ in _STAND_INS:
        try:
            return Task(**parts)
        except TaskError as exc:
            key = _culprit(str(exc))
            result.problem(_STAND_INS[key][0], str(exc))
            parts[key] = _STAND_INS[key][1]
    return Task(**parts)


def _culprit(message: str) -> str:
    """Which part a TaskError from Task() is about (its messages name the part)."""
    if "primary verdict" in message:
        return "primary_verdict"
    return "output_schema" if "output schema" in message else "name"


def _failed_at(exc: TaskError) -> tuple[str, int | None]:
    """Which template failed, and the line, from the traceback jinja2 gives a template failure."""
    cause = exc.__context__
    line = None
    if cause is not None:
        frames = [f for f in traceback.extract_tb(cause.__traceback__) if f.filename == "<template>"]
        line = frames[-1].lineno if frames else None
    return ("system template" if "system template" in str(exc) else "user template"), line

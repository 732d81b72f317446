"""Columns of the grid: each is a run, i.e. a variant (model × task version × few-shot × parameters),
with a label a person can read: "Gemma 3 4B · sentiment v2 · 5-shot"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.domain.model_ids import RUN_PREFIX, run_id_of
from workbench.domain.models import ModelParams

if TYPE_CHECKING:
    from workbench.domain.tasks import Task

SEPARATOR = " · "
PREFERENCE_SPECIAL = ("tie", "all_bad")  # the preferences that name no column
# How a parameter is written in a label; those that shape the answers are named even alone when
# set away from their default, the others only where the columns differ in them.
_PARAM_NAMES = {"temperature": "temp", "top_p": "top_p", "seed": "seed", "max_tokens": "max_tokens"}
_SHAPING = ("temperature", "top_p")
_DEFAULT_PARAMS = ModelParams().to_dict()


@dataclass(frozen=True)
class Variant:
    """What tells one run apart from another of the same dataset."""

    model_name: str
    task_name: str | None
    task_version: int | None
    few_shot: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    run_id: int | None = None  # named only when nothing else tells two columns apart


def column_label(model_name: str, task_name: str | None, task_version: int | None, few_shot: int = 0,
                 params: Mapping[str, Any] | None = None, *, show_task: bool = True,
                 show_params: Iterable[str] = ()) -> str:
    """ "Gemma 3 4B · sentiment v2 · 5-shot · temp 0.7": the task when asked, few-shot when
    used, and the parameters named in ``show_params`` (those that tell the columns apart)."""
    parts = [model_name]
    if show_task and task_name:
        parts.append(f"{task_name} v{task_version}" if task_version is not None else task_name)
    if few_shot:
        parts.append(f"{few_shot}-shot")
    for name in show_params:
        value = (params or {}).get(name, _DEFAULT_PARAMS.get(name))
        parts.append(f"{_PARAM_NAMES.get(name, name)} {value if value is not None else 'unset'}")
    return SEPARATOR.join(parts)


def shown_params(variants: Iterable[Variant]) -> list[str]:
    """Parameters worth a place in the labels: those that differ between the variants, and a
    temperature or top_p set away from its default (0.7 matters even alone)."""
    variants = list(variants)
    names: list[str] = []
    for name in _PARAM_NAMES:
        values = {_comparable(v.params.get(name, _DEFAULT_PARAMS.get(name))) for v in variants}
        unusual = name in _SHAPING and values and values != {_comparable(_DEFAULT_PARAMS.get(name))}
        if len(values) > 1 or unusual:
            names.append(name)
    return names


def column_labels(variants: Iterable[Variant]) -> list[str]:
    """A label for each variant, in order, naming what sets them apart (the task is always named:
    columns of different tasks answer different questions)."""
    variants = list(variants)
    params = shown_params(variants)
    labels = [column_label(v.model_name, v.task_name, v.task_version, v.few_shot, v.params, show_params=params)
              for v in variants]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [f"{label}{SEPARATOR}run {v.run_id}" if label in repeated and v.run_id is not None else label
            for label, v in zip(labels, variants, strict=True)]


def _comparable(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def shown_preference(preference: str | None, run_ids: dict[str, int]) -> str | None:
    """A stored preference (run:ID, or a model id from before runs were columns) as one of the
    columns shown: the first column showing that run; None when no column shows it."""
    if preference is None or preference in PREFERENCE_SPECIAL:
        return preference
    run_id = run_id_of(preference) if preference.startswith(RUN_PREFIX) else None
    if run_id is None:
        return preference if preference in run_ids else None
    return next((column for column, shown in run_ids.items() if shown == run_id), None)


def shared_verdict_fields(first: Task, tasks: list[Task]) -> tuple[list[str], bool]:
    """The verdict fields the grid compares columns on: the first column's task's, kept where every
    column's task has them; and whether the tasks' verdict fields are the same list (then the stored
    verdict keys compare, else the grid compares field by field)."""
    names = [[name for name, _ in t.verdict_fields] for t in tasks] or [[n for n, _ in first.verdict_fields]]
    fields = [name for name, _ in first.verdict_fields if all(name in other for other in names)]
    return fields, all(other == names[0] for other in names)

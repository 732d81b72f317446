"""What changed between two versions of a task, in words and as a diff of their YAML."""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from workbench.domain.tasks import Task

_TEXT_PARTS = (("system", "system template"), ("user", "user template"), ("description", "description"),
               ("primary_verdict", "primary verdict"))


class _TaskDumper(yaml.SafeDumper):
    """Multi-line texts (the templates) as blocks, as a person writes them."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_TaskDumper.add_representer(str, _text)


def task_yaml(definition: dict[str, Any]) -> str:
    """A task definition (a dict, maybe a draft) as the YAML file `workbench tasks add` reads."""
    body = {k: v for k, v in definition.items() if k not in ("version", "verdict_fields")}
    return yaml.dump(body, Dumper=_TaskDumper, sort_keys=False, allow_unicode=True, width=100)


def changes(old: Task | None, new: Task) -> list[str]:
    """One phrase per change, e.g. "user template", "output schema: added field 'x'"."""
    if old is None:
        return ["first version"]
    found = [label for key, label in _TEXT_PARTS if getattr(old, key) != getattr(new, key)]
    found += _schema_changes(old.output_schema, new.output_schema)
    return found or ["no change"]


def _schema_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    before, after = old.get("properties", {}) or {}, new.get("properties", {}) or {}
    found = [f"output schema: added field {name!r}" for name in after if name not in before]
    found += [f"output schema: removed field {name!r}" for name in before if name not in after]
    found += [f"output schema: changed field {name!r}" for name in after if name in before
              and before[name] != after[name]]
    rest = ({k: v for k, v in old.items() if k != "properties"}, {k: v for k, v in new.items() if k != "properties"})
    if rest[0] != rest[1]:
        found.append("output schema: " + ", ".join(sorted(k for k in set(rest[0]) | set(rest[1])
                                                            if rest[0].get(k) != rest[1].get(k))))
    return found


def yaml_diff(old: Task | None, new: Task) -> str:
    before = task_yaml(old.to_dict()).splitlines(keepends=True) if old is not None else []
    after = task_yaml(new.to_dict()).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"{new.name} v{old.version if old else 0}",
                                        f"{new.name} v{new.version}"))

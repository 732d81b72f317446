"""Reading a model's answer: tolerant JSON extraction and schema checks.

Servers without structured output often wrap JSON in prose or code fences;
we take the first complete JSON object in the text. What can't be read
becomes a typed error with the raw text kept, never a silent drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from workbench.domain.tasks import Task

INVALID_JSON = "invalid_json"
SCHEMA_VIOLATION = "schema_violation"


@dataclass(frozen=True)
class ParsedOutput:
    value: dict[str, Any] | None
    error_kind: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (whole text, fenced block, or embedded), else None."""
    stripped = text.strip()
    try:
        value = orjson.loads(stripped)
        return value if isinstance(value, dict) else None
    except orjson.JSONDecodeError:
        pass
    start = stripped.find("{")
    while start != -1:
        end = _matching_brace(stripped, start)
        if end is None:
            return None
        try:
            value = orjson.loads(stripped[start : end + 1])
            if isinstance(value, dict):
                return value
        except orjson.JSONDecodeError:
            pass
        start = stripped.find("{", start + 1)
    return None


def _matching_brace(text: str, start: int) -> int | None:
    depth = 0
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def parse_output(text: str, task: Task) -> ParsedOutput:
    value = extract_json_object(text)
    if value is None:
        preview = text.strip().replace("\n", " ")[:80]
        return ParsedOutput(None, INVALID_JSON, f"no JSON object in the answer: {preview!r}")
    errors = task.validation_errors(value)
    if errors:
        return ParsedOutput(value, SCHEMA_VIOLATION, "; ".join(errors))
    return ParsedOutput(value)

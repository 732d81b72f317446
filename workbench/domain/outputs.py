"""Reading a model's answer: tolerant JSON extraction and schema checks.

Servers without structured output often wrap JSON in prose or code fences;
we take the first complete JSON object in the text. What can't be read
becomes a typed error with the raw text kept (capped), never a silent drop.
Answers are hostile input: extraction is linear in the text (a bounded amount
of work per character, whatever the braces), and what json_rules refuses
(300 levels deep, huge numbers) is an error here, before it reaches the store.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import orjson

from workbench.domain.json_rules import json_problem
from workbench.domain.tasks import Task

INVALID_JSON = "invalid_json"
SCHEMA_VIOLATION = "schema_violation"
INVALID_RESPONSE = "invalid_response"  # not text at all (a provider's bug), or a check that broke
RAW_TEXT_CAP = 64 * 1024  # bytes of raw answer kept on an error, the truncation mark included
_STRUCTURE = re.compile(r'[{}"\\]')
_OBJECT_START = re.compile(r'\{\s*["}]')  # how every JSON object begins: a key or the end
_SPAN_COST = 16  # steps charged for each candidate, on top of its characters
OFF_LOOP_CHARS = 64 * 1024  # longer answers are parsed in a thread, so the event loop keeps serving


@dataclass(frozen=True)
class ParsedOutput:
    value: dict[str, Any] | None
    error_kind: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_kind is None


def keep_raw(text: Any, cap: int = RAW_TEXT_CAP, unread: int = 0) -> str:
    """``text`` as it can be stored: valid UTF-8 (lone surrogates replaced), no U+0000 (PostgreSQL's
    text can't hold it: replaced by U+FFFD), at most ``cap`` bytes, ending with a visible
    "… [truncated: N bytes]" when cut (N: the bytes left out, plus ``unread`` bytes that came
    after ``text`` and were never read)."""
    if not isinstance(text, str):
        text = repr(text)
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not unread and len(text) * 4 <= cap and (text.isascii() or _encodable(text)):
        return text  # can't be over the cap: no need to encode it
    data = text.encode("utf-8", "replace")
    if not unread and len(data) <= cap:
        return data.decode("utf-8")
    room = cap - len(f"… [truncated: {len(data) + unread} bytes]".encode())
    head = data[:max(room, 0)].decode("utf-8", "ignore")  # never half a character
    return f"{head}… [truncated: {len(data) - len(head.encode()) + unread} bytes]"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _Budget:
    """Work allowed for one extraction: a few passes over the text, so it stays linear."""

    def __init__(self, size: int):
        self.steps = size + 100_000  # structural characters looked at
        self.parsed = 8 * size + 65_536  # characters handed to the JSON parser

    def spend(self, steps: int = 0, parsed: int = 0) -> bool:
        self.steps -= steps
        self.parsed -= parsed
        return self.steps >= 0 and self.parsed >= 0


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (whole text, fenced block, or embedded), else None.

    Candidates are tried in order of their opening brace (an object around prose before the
    objects inside it); within a budget of work, after which the text counts as holding none.
    """
    stripped = text.strip()
    try:
        value = orjson.loads(stripped)
        return value if isinstance(value, dict) else None
    except orjson.JSONDecodeError:
        pass
    budget = _Budget(len(stripped))
    ranges = [(0, len(stripped))]  # still to search, the next one last
    while ranges:
        lo, hi = ranges.pop()
        start = stripped.find("{", lo, hi)
        if start == -1:
            continue
        end = _matching_brace(stripped, start, hi, budget)
        if end is None:  # never closed (or out of budget): objects may still start inside it
            if budget.steps < 0:
                return None
            ranges.append((start + 1, hi))
            continue
        if not budget.spend(steps=_SPAN_COST, parsed=end + 1 - start):
            return None
        if _OBJECT_START.match(stripped, start):
            try:
                value = orjson.loads(stripped[start:end + 1])
                if isinstance(value, dict):
                    return value
            except orjson.JSONDecodeError:
                pass
        ranges.append((end + 1, hi))
        ranges.append((start + 1, end))  # inside it first
    return None


def _matching_brace(text: str, start: int, hi: int, budget: _Budget) -> int | None:
    """Index of the brace closing the one at ``start`` (strings and escapes respected), else None."""
    depth, in_string, skip, steps = 0, False, -1, 0
    for match in _STRUCTURE.finditer(text, start, hi):
        steps += 1
        if steps == 4096:  # settle the bill now and then, to stop early when it is spent
            if not budget.spend(steps=steps):
                return None
            steps = 0
        i = match.start()
        if i == skip:
            continue
        ch = text[i]
        if in_string:
            if ch == "\\":
                skip = i + 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                budget.spend(steps=steps)
                return i
    budget.spend(steps=steps)
    return None


def parse_output(text: str, task: Task) -> ParsedOutput:
    """The answer checked against the task: a value, or a typed error. Never raises."""
    if not isinstance(text, str):
        return ParsedOutput(None, INVALID_RESPONSE, f"the answer is not text but {type(text).__name__}")
    try:
        value = extract_json_object(text)
        if value is None:
            preview = text.strip().replace("\n", " ")[:80]
            return ParsedOutput(None, INVALID_JSON, f"no JSON object in the answer: {preview!r}")
        problem = json_problem(value)
        if problem is not None:
            return ParsedOutput(None, INVALID_JSON, f"the answer's JSON can't be kept: {problem}")
        errors = task.validation_errors(value)
    except Exception as exc:  # noqa: BLE001 - a hostile answer must not take the run down
        problem = f"the answer could not be checked: {type(exc).__name__}: {exc}"
        return ParsedOutput(None, INVALID_RESPONSE, problem[:300])
    if errors:
        return ParsedOutput(value, SCHEMA_VIOLATION, "; ".join(errors))
    return ParsedOutput(value)


async def parse_output_off_loop(text: str, task: Task) -> ParsedOutput:
    """``parse_output`` from async code: in a thread when the answer is long enough to hold up the loop."""
    if isinstance(text, str) and len(text) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(parse_output, text, task)
    return parse_output(text, task)

"""The one rule for JSON from outside: request bodies, imported records, model answers.

Every value the workbench keeps is written back out with orjson and read by SQLite or
PostgreSQL, so what those can't hold exactly is refused where it comes in, with one line a
person can act on, instead of failing later (a 500, a paused run, a silently rounded number):

- nesting: at most ``MAX_DEPTH`` objects/arrays inside each other (orjson stops at 255, and
  Python's recursion long before any real record needs it);
- strings and keys: valid Unicode (a lone surrogate such as ``"\\ud800"`` can't be encoded)
  without U+0000 (PostgreSQL's text and jsonb can't hold it);
- integers: within 64 bits (beyond that they can't be stored exactly; quote them as strings);
- floats: finite (``NaN`` and ``Infinity`` are not JSON).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from workbench.domain.errors import InvalidInput
from workbench.domain.names import INT64_MAX, INT64_MIN

MAX_DEPTH = 64
TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep (the limit for any JSON value)"


class JsonRuleError(InvalidInput):
    """A value breaks the rule; the message says how."""


def json_problem(value: Any) -> str | None:
    """The first way ``value`` breaks the rule, or None. Iterative: any depth is safe to check."""
    return json_scan(value)[0]


def json_scan(value: Any) -> tuple[str | None, bool]:
    """``json_problem(value)``, and whether ``value`` holds a float beyond the 64-bit integers:
    orjson reads an integer literal it can't keep (``10**23``) as such a float, so a reader that
    sees one reads the text again exactly. One walk; the checks are inlined (importers walk every
    record of a 200K-record file)."""
    if type(value) is not dict and type(value) is not list:
        return _scalar_problem(value), type(value) is float and not -INT64_MAX <= value <= INT64_MAX
    big_float = False
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return TOO_DEEP, big_float
        if type(item) is dict:
            for key in item:
                if type(key) is not str or not key.isascii() or "\x00" in key:
                    problem = _key_problem(key)
                    if problem is not None:
                        return problem, big_float
            children = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is str:
                if not child.isascii() or "\x00" in child:
                    problem = _unicode_problem(child)
                    if problem is not None:
                        return problem, big_float
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is int:
                if not INT64_MIN <= child <= INT64_MAX:
                    return too_big_integer(child), big_float
            elif kind is float and not -INT64_MAX <= child <= INT64_MAX:  # NaN too: it compares false
                if not math.isfinite(child):
                    return f"{child} is not a JSON number", big_float
                big_float = True
    return None, big_float


def check_json(value: Any) -> Any:
    """``value`` itself, or JsonRuleError saying how it breaks the rule."""
    problem = json_problem(value)
    if problem is not None:
        raise JsonRuleError(problem)
    return value


def too_big_integer(number: int) -> str:
    shown = str(number)
    return f"the number {shown[:20]}{'…' if len(shown) > 20 else ''} is too large to keep exactly; quote it as a string"


def _scalar_problem(item: Any) -> str | None:
    kind = type(item)
    if kind is str:
        return None if item.isascii() and "\x00" not in item else _unicode_problem(item)
    if kind is int:
        return None if INT64_MIN <= item <= INT64_MAX else too_big_integer(item)
    if kind is float:
        return None if math.isfinite(item) else f"{item} is not a JSON number"
    return None


def _key_problem(key: Any) -> str | None:
    if type(key) is not str:
        return f"object keys must be strings, not {type(key).__name__}"
    return None if key.isascii() and "\x00" not in key else _unicode_problem(key)


def _unicode_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a string holds the character U+0000, which can't be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a string holds a lone surrogate (\\u{ord(text[exc.start]):04x}), which is not valid Unicode"
    return None


def checked_value(value: Any, text: str | bytes) -> tuple[Any, str | None]:
    """``value`` (read from ``text`` by orjson) and how it breaks the JSON rule, or None. One walk;
    orjson reads an integer literal past 64 bits as a float (1e+23), so when the walk meets a float
    that large the text is read again exactly, to refuse 10**23 instead of keeping it as 1e+23."""
    problem, big_float = json_scan(value)
    if problem is None and big_float:
        value = json.loads(text)  # within MAX_DEPTH here, so no recursion risk
        problem = json_problem(value)
    return value, problem


def decode_problem(exc: orjson.JSONDecodeError) -> str:
    if "depth" in exc.msg or "recursion" in exc.msg.lower():
        return TOO_DEEP
    if "surrogate" in exc.msg:
        return f"a string holds a lone surrogate (column {exc.colno}), which is not valid Unicode"
    if "infinity" in exc.msg:  # a number past a double's range (e.g. a 400-digit integer)
        return f"the number at column {exc.colno} is too large to keep exactly; quote it as a string"
    return f"malformed JSON ({exc.msg} at column {exc.colno})"

"""When a record needs review, and when someone has looked at it: each rule written once.

A record needs review when a person marked a selected model's answer wrong, when an answer
failed, or when the models' verdicts differ and nobody has looked yet. The rule is a function
of four facts and a ``Logic`` (or / and / not): with Python's it decides one row of the grid
(grid/page.py) and the filter counts (grid/counts.py); with SQL's (grid/selection.py) it is the
``needs_review`` filter. So the three can't drift apart.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

WRONG = "wrong"  # the judgement that makes a record need review
# Someone has looked: at a model's answer (marked it golden, good or wrong, or fixed it), or at
# the record (said which model is better, left a note, or marked it reviewed). Names of annotation fields.
ANSWER_REVIEW_MARKS = ("golden", "judgement", "correction")
RECORD_REVIEW_MARKS = ("preference", "note", "reviewed")
FLAG_MARKS = frozenset({"golden", "reviewed"})  # a flag is set when true (1); any other mark when present


@dataclass(frozen=True)
class Logic(Generic[T]):
    any_of: Callable[..., T]
    all_of: Callable[..., T]
    negate: Callable[[T], T]


PYTHON: Logic[bool] = Logic(lambda *facts: any(facts), lambda *facts: all(facts), operator.not_)


@dataclass(frozen=True)
class ReviewFacts(Generic[T]):
    """What the rule asks about one record and the selected models (bools, or SQL conditions)."""

    marked_wrong: T  # a selected model's answer is marked wrong
    errored: T  # a selected model's answer failed
    models_differ: T  # the selected models' verdicts differ
    reviewed: T  # someone has looked (see ``looked_at``)


def needs_review(facts: ReviewFacts[T], logic: Logic[T]) -> T:
    """The rule; ``logic`` is PYTHON for bools, or SQL's and/or/not for conditions."""
    return logic.any_of(facts.marked_wrong, facts.errored,
                        logic.all_of(facts.models_differ, logic.negate(facts.reviewed)))


def is_set(mark: str, value: Any) -> bool:
    """Whether the annotation field ``mark`` holds something (SQL: grid/selection.py ``marked``)."""
    return bool(value) if mark in FLAG_MARKS else value is not None


def looked_at(answer_notes: Iterable[Mapping[str, Any]], record_note: Mapping[str, Any] | None) -> bool:
    """Someone has looked at one of these answers (their annotation states) or at the record."""
    return any(is_set(m, note.get(m)) for note in answer_notes for m in ANSWER_REVIEW_MARKS) or any(
        is_set(m, (record_note or {}).get(m)) for m in RECORD_REVIEW_MARKS)


def verdicts_differ(verdict_keys: Iterable[str | None]) -> bool:
    """Two answers (their verdict keys, None without a valid answer) give different verdicts
    (SQL: any pair of non-NULL keys differing, grid/selection.py ``differences``)."""
    return len({key for key in verdict_keys if key is not None}) > 1

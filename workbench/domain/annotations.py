"""Annotations: what people say about answers and records, and what follows from it.

On an answer (a record × a run): ``golden`` (keep it as an example), ``judgement`` (good / wrong)
and a ``correction`` (the fixed answer, valid against the task's schema). On a record:
``preference`` (which column was better, kept as its run ``run:ID``; "tie" or "all_bad"), a ``note``
and ``reviewed`` (someone looked at it and has nothing to add: a bulk action marks many at once). The store keeps
every change as an event; this module validates values and derives labels from the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.domain.columns import PREFERENCE_SPECIAL
from workbench.domain.errors import InvalidInput
from workbench.domain.model_ids import BadColumnId, run_id_of
from workbench.domain.tasks import Task

MODEL_FIELDS = ("golden", "judgement", "correction")
RECORD_FIELDS = ("preference", "note", "reviewed")
FLAG_FIELDS = ("golden", "reviewed")  # stored as 0/1; false when never set
FIELDS = MODEL_FIELDS + RECORD_FIELDS
JUDGEMENTS = ("good", "wrong")
MAX_NOTE = 5000


class AnnotationError(InvalidInput):
    """A value that can't be stored (wrong type, invalid correction...)."""


def validate(field: str, value: Any, *, task: Task | None = None, models: list[str] | None = None,
             has_answer: bool = True) -> Any:
    """The value to store for ``field``, or AnnotationError with a readable reason. ``models``, when
    given, are the columns a preference may name (else any column id)."""
    if field not in FIELDS:
        raise AnnotationError(f"unknown annotation {field!r}; use one of {', '.join(FIELDS)}")
    if field == "golden":
        if not isinstance(value, bool):
            raise AnnotationError("golden must be true or false")
        if value and not has_answer:
            raise AnnotationError("this model has no valid answer to mark golden: fix it first")
        return value
    if field == "reviewed":
        if not isinstance(value, bool):
            raise AnnotationError("reviewed must be true or false")
        return value
    if field == "judgement":
        if value is not None and value not in JUDGEMENTS:
            raise AnnotationError("judgement must be 'good', 'wrong' or null")
        return value
    if field == "correction":
        if value is None:
            return None
        if not isinstance(value, dict):
            raise AnnotationError("a correction must be a JSON object")
        if task is not None:
            errors = task.validation_errors(value)
            if errors:
                raise AnnotationError("the corrected answer doesn't fit the task's schema: " + "; ".join(errors))
        return value
    if field == "preference":
        if value is None or value in PREFERENCE_SPECIAL:
            return value
        problem = AnnotationError(f"preference must be a column (a model id or run:ID), "
                                  f"{' or '.join(PREFERENCE_SPECIAL)}, or null")
        if models is not None and value not in models:
            raise AnnotationError(f"preference must be one of {', '.join([*models, *PREFERENCE_SPECIAL])} or null")
        if not isinstance(value, str):
            raise problem
        try:
            run_id_of(value)
        except BadColumnId:
            raise problem from None
        return value
    if value is not None and not isinstance(value, str):
        raise AnnotationError("a note must be text")
    if value is not None and len(value) > MAX_NOTE:
        raise AnnotationError(f"a note may be at most {MAX_NOTE} characters")
    return value or None


@dataclass(frozen=True)
class AnswerState:
    """One run's answer to one record with its annotations (a row of the state table)."""

    model_id: str
    run_id: int | None
    output: dict[str, Any] | None  # the model's valid answer, if any
    golden: bool = False
    judgement: str | None = None
    correction: dict[str, Any] | None = None
    updated_by: str | None = None
    updated_at: str | None = None

    @property
    def answer(self) -> dict[str, Any] | None:
        """What this answer says once fixed: the correction if there is one."""
        return self.correction if self.correction is not None else self.output


def _provenance(state: AnswerState, source: str) -> dict[str, Any]:
    # "corrected": the label is a person's fix, not the model's answer as it gave it (a label that
    # is a model's own unedited answer scores that model 100% by construction: few_shot_gain).
    return {"source": source, "model_id": state.model_id, "run_id": state.run_id,
            "corrected": state.correction is not None,
            "annotator": state.updated_by, "annotated_at": state.updated_at}


def golden_answer(states: list[AnswerState]) -> tuple[dict | None, dict] | None:
    """The record's golden answer (corrections applied) and where it came from; latest wins."""
    marked = [s for s in states if s.golden and s.answer is not None]
    if not marked:
        return None
    chosen = max(marked, key=lambda s: s.updated_at or "")
    return chosen.answer, _provenance(chosen, "golden")


def reference_label(states: list[AnswerState]) -> tuple[dict | None, dict] | None:
    """What a model is scored against: a golden answer, else the latest correction."""
    golden = golden_answer(states)
    if golden is not None:
        return golden
    corrected = [s for s in states if s.correction is not None]
    if not corrected:
        return None
    chosen = max(corrected, key=lambda s: s.updated_at or "")
    return chosen.correction, _provenance(chosen, "correction")

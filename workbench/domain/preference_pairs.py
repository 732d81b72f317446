"""Preference pairs for preference tuning (DPO and friends), in TRL's conversational preference
format: ``{"prompt": [messages], "chosen": [{"role": "assistant", ...}], "rejected": [...]}``,
plus metadata keys saying where each pair came from.

- ``human_preference``: a person preferred column X on a record: X's answer is chosen over each
  other column's valid answer (a tie or "all bad" makes no pair);
- ``correction``: a person fixed a column's answer: the fix is chosen over the answer as given;
- ``judge`` (only when asked for): a judge preferred one column of a pair in both orders (a flip,
  a tie or an unfinished judgement makes no pair).

A pair whose two answers are the same says nothing and is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson

from workbench.domain.columns import PREFERENCE_SPECIAL
from workbench.domain.judging import Suggestion

HUMAN, CORRECTION, JUDGE = "human_preference", "correction", "judge"
SOURCES = (HUMAN, CORRECTION, JUDGE)

Messages = list[dict[str, str]]


def _answer(output: Mapping[str, Any]) -> Messages:
    return [{"role": "assistant", "content": orjson.dumps(output).decode()}]


def preference_pair(prompt: Messages, chosen: Mapping[str, Any], rejected: Mapping[str, Any], *, record_id: str,
                    source: str, chosen_column: str, rejected_column: str, **extra: Any) -> dict[str, Any]:
    """One TRL conversational preference row with its metadata."""
    return {"prompt": prompt, "chosen": _answer(chosen), "rejected": _answer(rejected), "record_id": record_id,
            "source": source, "chosen_column": chosen_column, "rejected_column": rejected_column, **extra}


def record_pairs(record_id: str, prompt: Callable[[str], Messages | None], outputs: Mapping[str, dict | None], *,
                 preference: str | None = None, corrections: Mapping[str, dict] | None = None,
                 suggestions: Iterable[Suggestion] = ()) -> Iterator[dict[str, Any]]:
    """The pairs one record gives. ``outputs``: column id -> its valid answer (None: none);
    ``prompt(column)``: the messages that column's task sends for the record (None: an empty
    prompt, no pair); ``preference``: the column a person preferred (or tie / all_bad / None);
    ``corrections``: column id -> the person's fix of its answer; ``suggestions``: the judge's."""
    def pair(chosen_column: str, rejected_column: str, chosen: dict | None, rejected: dict | None, source: str,
             **extra: Any) -> Iterator[dict[str, Any]]:
        if chosen is None or rejected is None or chosen == rejected:
            return
        messages = prompt(chosen_column)
        if messages is not None:
            yield preference_pair(messages, chosen, rejected, record_id=record_id, source=source,
                                  chosen_column=chosen_column, rejected_column=rejected_column, **extra)

    if preference is not None and preference not in PREFERENCE_SPECIAL and preference in outputs:
        for other in outputs:
            if other != preference:
                yield from pair(preference, other, outputs[preference], outputs[other], HUMAN)
    for column, fixed in (corrections or {}).items():
        if column in outputs:
            yield from pair(column, column, fixed, outputs[column], CORRECTION)
    for suggestion in suggestions:
        if not suggestion.consistent or suggestion.preferred not in suggestion.columns:
            continue
        winner = suggestion.preferred
        loser = next(c for c in suggestion.columns if c != winner)
        if winner in outputs and loser in outputs:
            yield from pair(winner, loser, outputs[winner], outputs[loser], JUDGE,
                            judge_model=suggestion.judge_model, judge_id=suggestion.judge_run)

"""Review by expected value: which records a person's decision changes the most, and why.

A record is worth a look first when its columns disagree (on more verdict fields: more to decide),
when the judge can't settle it (it flipped with the order, or called a tie, or hasn't looked), and
when nobody has reviewed it yet. The score is a small whole number (0..MAX_VALUE, so the grid keeps
it as a byte per record, grid/value.py); higher comes first. Its parts, by weight:

- nobody reviewed it (domain/review.looked_at): +64, above everything else — a reviewed record's
  decision is made;
- each verdict field the columns' answers (as corrected) differ on: +8, at most 7 fields;
- the judge, only where the columns differ: flipped with the order +6, a consistent tie +4, not
  judged +2, a consistent preference +0 (its suggestion already says who is likely right).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.domain.judging import Suggestion

UNREVIEWED = 64
PER_FIELD = 8
MAX_FIELDS = 7
JUDGE_POINTS = {"inconsistent": 6, "tie": 4, None: 2, "confident": 0}
MAX_VALUE = UNREVIEWED + PER_FIELD * MAX_FIELDS + max(JUDGE_POINTS.values())  # 126: fits a byte with a flag bit


@dataclass(frozen=True)
class ValueFacts:
    differing_fields: int  # verdict fields the columns' answers (as corrected) differ on
    reviewed: bool  # someone has looked (domain/review.looked_at)
    judge: str | None = None  # judge_state(...): "inconsistent" | "tie" | "confident" | None (not judged)


def judge_state(suggestions: Iterable[Suggestion]) -> str | None:
    """What the judges say of a record, the least settled pair first: "inconsistent" (a verdict
    flipped with the order), "tie", "confident" (every judged pair has a consistent preference),
    or None (no verdict in both orders yet)."""
    said = [s for s in suggestions if s.preferred is not None]
    if any(s.consistent is False for s in said):
        return "inconsistent"
    if any(s.preferred == "tie" for s in said):
        return "tie"
    return "confident" if said else None


def decision_value(facts: ValueFacts) -> int:
    """The record's score (see the module's text): 0..MAX_VALUE."""
    fields = max(0, min(facts.differing_fields, MAX_FIELDS))
    value = 0 if facts.reviewed else UNREVIEWED
    value += PER_FIELD * fields
    if fields:
        value += JUDGE_POINTS.get(facts.judge, JUDGE_POINTS[None])
    return value


def value_reasons(facts: ValueFacts, differing: Sequence[str], answered: int,
                  preferred_label: str | None = None) -> list[str]:
    """The score in plain words, most weighty first: e.g. ["3 columns disagree on recommendation",
    "judge flipped with order", "nobody reviewed it"]. ``differing``: the fields' names;
    ``answered``: how many columns answered; ``preferred_label``: the judge's pick, named."""
    reasons = []
    if differing:
        reasons.append(f"{answered} columns disagree on {', '.join(differing)}")
        if facts.judge == "inconsistent":
            reasons.append("judge flipped with order")
        elif facts.judge == "tie":
            reasons.append("judge calls it a tie")
        elif facts.judge == "confident":
            reasons.append(f"judge prefers {preferred_label}" if preferred_label else "judge is consistent")
        else:
            reasons.append("no judge has looked")
    else:
        reasons.append("the columns agree")
    reasons.append("reviewed already" if facts.reviewed else "nobody reviewed it")
    return reasons

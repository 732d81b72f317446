"""A judge's verdict on one record: which of two columns' answers is better, asked in both orders.

A verdict that flips with the order is a tie and is inconsistent. Verdicts are suggestions, kept
apart from people's preferences. (Owned by issue #16's judge work; the dataclass is the contract
the grid, review mode and exports read.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suggestion:
    """The judge's word on one record for one pair of columns."""

    columns: tuple[str, str]  # the two column ids judged (as the caller named them)
    preferred: str | None  # one of ``columns``, "tie", or None (not judged in both orders yet, or an error)
    consistent: bool | None  # both orders agree; False: it flipped with the order (then preferred is "tie")
    judge_model: str  # the judge's model id
    judge_run: int  # the judge's id (its first run)
    reason: str | None = None  # the judge's reason, in the first order

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "preferred": self.preferred, "consistent": self.consistent,
                "judge_model": self.judge_model, "judge_run": self.judge_run, "reason": self.reason}

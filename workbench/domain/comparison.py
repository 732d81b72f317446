"""Comparing models per record: agreement on each verdict field, and overall.

Accumulators take one record at a time, so comparisons stream over any
number of records. ``ComparisonSummary`` (/api/compare, the comparison exports) measures the
MODELS, so it is given their own answers, never a person's corrections; the grid's
differences compare the answers as corrected (grid/corrections.py), with the same
``disagreeing_fields``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

Outputs = dict[str, dict[str, Any] | None]  # model id -> parsed output (None: no valid answer)


def verdict_key(output: dict[str, Any] | None, verdict_fields: list[str]) -> str | None:
    """All verdicts of one answer as one comparable string (equal strings = full agreement)."""
    if output is None:
        return None
    return "\x1f".join(str(output.get(f, "")) for f in verdict_fields)


def disagreeing_fields(outputs: Outputs, verdict_fields: list[str]) -> list[str]:
    """Verdict fields on which the models that answered give different values."""
    answered = [o for o in outputs.values() if o is not None]
    return [f for f in verdict_fields if len({o.get(f) for o in answered}) > 1]


def agreement(outputs: Outputs, verdict_fields: list[str]) -> bool | None:
    """True when every model answered and all agree on every verdict field; None until all answered."""
    if len(outputs) < 2 or any(o is None for o in outputs.values()):
        return None
    return not disagreeing_fields(outputs, verdict_fields)


@dataclass
class ComparisonSummary:
    models: list[str]
    verdict_fields: list[str]
    records: int = 0
    all_answered: int = 0
    disagreed: int = 0
    field_agreed: dict[str, int] = field(default_factory=dict)
    pair_agreed: dict[tuple[str, str, str], int] = field(default_factory=dict)
    pair_both: dict[tuple[str, str], int] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)

    def add(self, outputs: Outputs) -> None:
        self.records += 1
        for model in self.models:
            if outputs.get(model) is not None:
                self.answered[model] = self.answered.get(model, 0) + 1
        for a, b in combinations(self.models, 2):
            oa, ob = outputs.get(a), outputs.get(b)
            if oa is None or ob is None:
                continue
            self.pair_both[(a, b)] = self.pair_both.get((a, b), 0) + 1
            for f in self.verdict_fields:
                if oa.get(f) == ob.get(f):
                    key = (a, b, f)
                    self.pair_agreed[key] = self.pair_agreed.get(key, 0) + 1
        if any(outputs.get(m) is None for m in self.models):
            return
        self.all_answered += 1
        differing = disagreeing_fields({m: outputs[m] for m in self.models}, self.verdict_fields)
        if differing:
            self.disagreed += 1
        for f in self.verdict_fields:
            if f not in differing:
                self.field_agreed[f] = self.field_agreed.get(f, 0) + 1

    def field_agreement(self, name: str) -> float | None:
        return self.field_agreed.get(name, 0) / self.all_answered if self.all_answered else None

    def disagreement_share(self) -> float | None:
        return self.disagreed / self.all_answered if self.all_answered else None

    def pair_agreement(self, a: str, b: str, name: str) -> float | None:
        both = self.pair_both.get((a, b), 0)
        return self.pair_agreed.get((a, b, name), 0) / both if both else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": self.models, "records": self.records, "all_answered": self.all_answered,
            "answered": self.answered, "disagreement_share": self.disagreement_share(),
            "field_agreement": {f: self.field_agreement(f) for f in self.verdict_fields},
            "pairs": [
                {"models": [a, b], "both_answered": self.pair_both.get((a, b), 0),
                 "agreement": {f: self.pair_agreement(a, b, f) for f in self.verdict_fields}}
                for a, b in combinations(self.models, 2)
            ],
        }

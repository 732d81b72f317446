"""How far people agree with people: on the units (an answer's judgement or golden mark, a record's
preference) that two or more annotators labelled.

- percent: the share of units where every annotator gave the same label (Wilson interval);
- Cohen's κ between exactly two annotators (bootstrap interval), and per pair when there are more;
- Krippendorff's α (nominal), for any number of annotators and units with any number of labels;
- disagreements: the records where some unit's labels differ (what the grid's drill lists).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

from workbench.domain.metrics import kappa_with_interval
from workbench.domain.stats import proportion

# unit key (seq first) -> annotator -> label
Units = Mapping[tuple[int, int], Mapping[str, Hashable]]


def krippendorff_alpha_nominal(units: Iterable[Sequence[Hashable]]) -> float | None:
    """Krippendorff's α for nominal labels, from the coincidence matrix: each unit with m ≥ 2 labels
    adds 1/(m − 1) for every ordered pair of its labels; α = 1 − (n − 1)·D_o / Σ_{c≠k} n_c·n_k, where
    D_o is the mismatched coincidences and n_c the label totals. None without a pairable unit; 1.0
    when every label is the same one (no disagreement to expect or observe), as κ does."""
    coincidences: dict[tuple[Hashable, Hashable], float] = {}
    for unit in units:
        labels = [label for label in unit if label is not None]
        m = len(labels)
        if m < 2:
            continue
        counts = Counter(labels)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    coincidences[c, k] = coincidences.get((c, k), 0.0) + pairs / (m - 1)
    if not coincidences:
        return None
    totals: dict[Hashable, float] = {}
    for (c, _), value in coincidences.items():
        totals[c] = totals.get(c, 0.0) + value
    n = sum(totals.values())
    observed = sum(value for (c, k), value in coincidences.items() if c != k)
    expected = n * n - sum(t * t for t in totals.values())  # Σ_{c≠k} n_c·n_k
    if expected <= 1e-12:
        return 1.0 if observed <= 1e-12 else None
    return 1.0 - (n - 1) * observed / expected


def _kappa(pairs: Iterable[tuple[Hashable, Hashable]]) -> dict[str, Any]:
    joint: Counter[tuple[Hashable, Hashable]] = Counter(pairs)
    return kappa_with_interval(joint, sum(joint.values()))


def pair_agreement(units: Units, a: str, b: str) -> dict[str, Any]:
    """Two annotators on the units both labelled: n, percent agreement and κ with intervals."""
    pairs = [(labels[a], labels[b]) for labels in units.values() if a in labels and b in labels]
    agreed = sum(1 for x, y in pairs if x == y)
    return {"annotators": [a, b], "n": len(pairs), "percent": proportion(agreed, len(pairs)), **_kappa(pairs)}


def disagreeing(units: Units) -> list[tuple[int, int]]:
    """The units whose labels are not all the same."""
    return [key for key, labels in units.items() if len(set(labels.values())) > 1]


def disagreeing_records(units: Units) -> set[int]:
    """The records (seqs) with a unit the annotators disagree on."""
    return {key[0] for key in disagreeing(units)}


def disagreeing_on_any(labels: Mapping[str, Units], fields: Iterable[str]) -> set[int]:
    """The records with a unit the annotators disagree on, in any of ``fields`` (labels: field -> units):
    what ``disagreements`` counts and ``drill=annotators`` lists, so the two can't drift apart."""
    return set().union(*(disagreeing_records(labels[field]) for field in fields))


def field_agreement(units: Units) -> dict[str, Any]:
    """One field's figures: annotators, n units, percent (all agree), κ for exactly two annotators
    (else None, and ``pairs`` has κ per pair), α for any number, and the disagreements (records;
    ``disagreeing_units`` counts units, which differ where one record has several answers)."""
    units = {key: labels for key, labels in units.items() if len(labels) >= 2}
    annotators = sorted({name for labels in units.values() for name in labels})
    split = disagreeing(units)
    n = len(units)
    figures: dict[str, Any] = {"annotators": annotators, "n": n, "percent": proportion(n - len(split), n),
                               "kappa": None, "kappa_low": None, "kappa_high": None, "pairs": [],
                               "alpha": krippendorff_alpha_nominal(list(labels.values()) for labels in units.values()),
                               "disagreements": len({key[0] for key in split}), "disagreeing_units": len(split)}
    if len(annotators) == 2:
        figures.update(_kappa((labels[annotators[0]], labels[annotators[1]]) for labels in units.values()))
    elif len(annotators) > 2:
        figures["pairs"] = [pair for a, b in combinations(annotators, 2) if (pair := pair_agreement(units, a, b))["n"]]
    return figures

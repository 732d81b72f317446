"""Evaluation metrics over a run: per-model health, inter-model agreement (percent and
Cohen's kappa), accuracy against human reference answers, win rates from human
preferences, and confusion matrices for the primary verdict.

Everything is kept as counters keyed by label, never per record, so memory depends
only on the number of models and labels, not on the number of records. Every proportion carries
its 95% Wilson interval, every kappa a seeded bootstrap interval, and each pair of columns a paired
test (exact McNemar on right/wrong against the labels, the sign test on preferences): domain/stats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from itertools import combinations
from typing import Any

from workbench.domain import stats

OTHER = "other"  # confusion-matrix bucket for labels outside a field's options


def kappa_from_counts(joint: Counter[tuple[Hashable, Hashable]], n: int) -> float | None:
    """Cohen's kappa from joint label counts {(a_label, b_label): count} over n items.

    Kept in integers until the single final division, so p_o == p_e gives exactly 0.0:
    kappa = (p_o - p_e) / (1 - p_e) = (agree*n - Σ a_k*b_k) / (n² - Σ a_k*b_k).
    """
    if n <= 0:
        return None
    agree = sum(c for (a, b), c in joint.items() if a == b)
    marg_a: Counter[Hashable] = Counter()
    marg_b: Counter[Hashable] = Counter()
    for (a, b), c in joint.items():
        marg_a[a] += c
        marg_b[b] += c
    chance = sum(c * marg_b[k] for k, c in marg_a.items())  # = p_e * n²
    if chance == n * n:
        # Both raters always used one and the same label: kappa is 0/0. Perfect
        # agreement is still the honest answer; anything else is undefined.
        return 1.0 if agree == n else None
    return (agree * n - chance) / (n * n - chance)


def kappa_with_interval(joint: Counter[tuple[Hashable, Hashable]], n: int) -> dict[str, float | None]:
    """Cohen's kappa from joint counts with its seeded bootstrap 95% interval (stats.bootstrap_kappa):
    ``kappa``, ``kappa_low``, ``kappa_high`` (None where undefined: no records, or too few)."""
    interval = stats.bootstrap_kappa(joint, n)
    return {"kappa": kappa_from_counts(joint, n), "kappa_low": interval[0] if interval else None,
            "kappa_high": interval[1] if interval else None}


def cohen_kappa(pairs: Iterable[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa between two raters, from (rater_a_label, rater_b_label) pairs."""
    joint: Counter[tuple[Hashable, Hashable]] = Counter()
    n = 0
    for a, b in pairs:
        joint[(a, b)] += 1
        n += 1
    return kappa_from_counts(joint, n)


def label_index(options: list[str], value: Any) -> int:
    """A label's row/column in a confusion matrix over ``options``; len(options) is OTHER."""
    return options.index(value) if value in options else len(options)


def confusion_cell(options: list[str], field: str, reference: dict | None,
                   output: dict | None) -> tuple[int, int] | None:
    """(reference label, model's answer) indexes of the confusion matrix this record counts in for
    one model, or None when it counts in none (no reference label, or no valid answer). The
    Metrics figures and the grid's drill-down both ask this, so a cell and its records agree."""
    if reference is None or output is None:
        return None
    return label_index(options, reference.get(field)), label_index(options, output.get(field))


def pair_agrees(a: dict | None, b: dict | None, field: str) -> bool | None:
    """Whether two models' answers agree on ``field``; None unless both answered (then the record
    is not in that pair's n). Agreement figures and the grid's drill-down both ask this."""
    if a is None or b is None:
        return None
    return a.get(field) == b.get(field)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _interval(k: int, n: int) -> dict[str, Any]:
    """The keys a proportion gains beside its value: 95% Wilson ``low``/``high`` and ``small``."""
    p = stats.proportion(k, n)
    return {"low": p["low"], "high": p["high"], "small": p["small"]}


def accuracy_on(records: Iterable[tuple[dict | None, dict | None]], field: str) -> dict[str, Any]:
    """Accuracy of one field over (model_output, reference) pairs where both exist.

    Meant for comparing two runs (e.g. zero-shot vs few-shot) on the same records.
    """
    n = correct = 0
    for output, reference in records:
        if output is None or reference is None:
            continue
        n += 1
        correct += output.get(field) == reference.get(field)
    return {"n": n, "correct": correct, "accuracy": _ratio(correct, n)}


class _ModelStats:
    """Health of one model's results: answers, errors, latency and tokens."""

    def __init__(self) -> None:
        self.answered = 0
        self.errors = 0
        self.errors_by_kind: Counter[str] = Counter()
        self.latency_sum = 0.0
        self.latency_n = 0
        self.tokens_in = 0
        self.tokens_out = 0

    def add(self, result: dict[str, Any]) -> None:
        if result.get("status") == "ok":
            self.answered += 1
        elif result.get("status") == "error":
            self.errors += 1
            self.errors_by_kind[result.get("error_kind") or "unknown"] += 1
        latency = result.get("latency_ms")
        # A cache hit's latency measures the cache, not the model.
        if latency is not None and not result.get("cached"):
            self.latency_sum += latency
            self.latency_n += 1
        self.tokens_in += result.get("tokens_in") or 0
        self.tokens_out += result.get("tokens_out") or 0

    def add_totals(self, *, answered: int, errors_by_kind: dict[str, int], latency_sum: float, latency_n: int,
                   tokens_in: int, tokens_out: int) -> None:
        """Many results at once, as SQL sums them (store/metric_counts): the same as ``add`` for each."""
        self.answered += answered
        self.errors += sum(errors_by_kind.values())
        self.errors_by_kind.update(errors_by_kind)
        self.latency_sum += latency_sum
        self.latency_n += latency_n
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out

    def to_dict(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "errors": self.errors,
            "errors_by_kind": dict(self.errors_by_kind),
            "mean_latency_ms": self.latency_sum / self.latency_n if self.latency_n else None,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
        }


class MetricsAccumulator:
    """Streams records one at a time and reports all metrics with `to_dict()`.

    These figures measure the MODELS: agreement, kappa and confusion compare each model's own
    answer (results.output), never a person's correction of it (a correction is a reference label
    for accuracy and confusion). The grid's "differences" compare the answers as corrected instead."""

    def __init__(self, models: list[str], verdict_fields: dict[str, list[str]], primary: str | None) -> None:
        self.models = list(models)
        self.verdict_fields = {f: list(opts) for f, opts in verdict_fields.items()}
        self.primary = primary
        self.pairs = list(combinations(self.models, 2))
        self.records = 0
        self.stats = {m: _ModelStats() for m in self.models}
        # (field, a, b) -> joint label counts; n and agreement both derive from it.
        self.joint: dict[tuple[str, str, str], Counter[tuple[Any, Any]]] = {
            (f, a, b): Counter() for f in self.verdict_fields for a, b in self.pairs
        }
        self.acc_n = Counter[str]()
        self.acc_correct = Counter[str]()
        self.field_correct: Counter[tuple[str, str]] = Counter()
        self.wins = Counter[str]()
        # (a, b) -> records both answered with a reference label, and of those: a right & b wrong,
        # a wrong & b right (on the primary verdict): the counts exact McNemar rests on.
        self.paired_n: Counter[tuple[str, str]] = Counter()
        self.a_only: Counter[tuple[str, str]] = Counter()
        self.b_only: Counter[tuple[str, str]] = Counter()
        self.pref_n = 0
        self.ties = 0
        self.all_bad = 0
        # model -> Counter[(reference_label_index, model_label_index)]; index len(options) = "other"
        self.confusion: dict[str, Counter[tuple[int, int]]] = (
            {m: Counter() for m in self.models} if primary is not None else {}
        )

    def add(
        self,
        *,
        outputs: dict[str, dict | None],
        results: dict[str, dict | None],
        reference: dict | None = None,
        preference: str | None = None,
    ) -> None:
        """Count one record: the same as the four parts below, for a caller that reads record by record."""
        self.records += 1
        for m in self.models:
            result = results.get(m)
            if result is not None:
                self.add_result(m, result)
        for a, b in self.pairs:
            oa, ob = outputs.get(a), outputs.get(b)
            if oa is None or ob is None:  # as pair_agrees: not in this pair's n
                continue
            for f in self.verdict_fields:
                self.add_pair_labels(f, a, b, oa.get(f), ob.get(f))
        if reference is not None:
            self.add_labelled(outputs, reference)
        if preference is not None:
            self.add_preference(preference)

    # The parts, so a caller may count what SQL can count in bulk (health, pair labels) and only the
    # few labelled or preferred records one by one. ``records`` is then the caller's to set.
    def add_result(self, model: str, result: dict[str, Any]) -> None:
        """One result's health (status, error kind, latency, tokens) for ``model``."""
        self.stats[model].add(result)

    def add_health(self, model: str, **totals: Any) -> None:
        """Many results' health at once for ``model`` (``_ModelStats.add_totals``'s keywords)."""
        self.stats[model].add_totals(**totals)

    def add_pair_labels(self, field: str, a: str, b: str, label_a: Any, label_b: Any, count: int = 1) -> None:
        """``count`` records where both of the pair (a, b) answered, with these labels for ``field``."""
        self.joint[(field, a, b)][(label_a, label_b)] += count

    def add_labelled(self, outputs: dict[str, dict | None], reference: dict) -> None:
        """A record with a reference label: accuracy and confusion of each model that answered."""
        correct: dict[str, bool] = {}
        for m in self.models:
            out = outputs.get(m)
            if out is None:
                continue
            self.acc_n[m] += 1
            right = {f: out.get(f) == reference.get(f) for f in self.verdict_fields}
            for f, ok in right.items():
                self.field_correct[(m, f)] += ok
            # Without a primary verdict, "correct" means every verdict matches.
            correct[m] = right[self.primary] if self.primary is not None else all(right.values())
            self.acc_correct[m] += correct[m]
            if self.primary is not None:
                cell = confusion_cell(self.verdict_fields[self.primary], self.primary, reference, out)
                assert cell is not None  # both are there
                self.confusion[m][cell] += 1
        for a, b in self.pairs:
            if a in correct and b in correct:
                self.paired_n[(a, b)] += 1
                self.a_only[(a, b)] += correct[a] and not correct[b]
                self.b_only[(a, b)] += correct[b] and not correct[a]

    def add_preference(self, preference: str) -> None:
        """A record's stated preference: a column id, "tie" or "all_bad"."""
        self.pref_n += 1
        if preference == "tie":
            self.ties += 1
        elif preference == "all_bad":
            self.all_bad += 1
        else:
            self.wins[preference] += 1

    def _agreement(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for f in self.verdict_fields:
            rows = []
            for a, b in self.pairs:
                joint = self.joint[(f, a, b)]
                n = sum(joint.values())
                agree = sum(c for (x, y), c in joint.items() if x == y)
                rows.append({"models": [a, b], "n": n, "percent": _ratio(agree, n), **_interval(agree, n),
                             **kappa_with_interval(joint, n)})
            out[f] = rows
        return out

    def _paired(self) -> list[dict[str, Any]]:
        """Per pair of columns: exact McNemar on the records both answered and a label exists for,
        and the sign test on the records where one of the two was preferred."""
        return [
            {"models": [a, b], "field": self.primary, "labelled": self.paired_n[(a, b)],
             "mcnemar": stats.mcnemar_exact(self.a_only[(a, b)], self.b_only[(a, b)], names=(a, b)),
             "sign": stats.sign_test(self.wins[a], self.wins[b], names=(a, b))}
            for a, b in self.pairs
        ]

    def _confusion(self) -> dict[str, dict[str, Any]]:
        if self.primary is None:
            return {}
        options = self.verdict_fields[self.primary]
        out = {}
        for m, counts in self.confusion.items():
            other_seen = any(len(options) in key for key in counts)
            size = len(options) + other_seen
            matrix = [[counts[(r, c)] for c in range(size)] for r in range(size)]
            out[m] = {
                "labels": options + [OTHER] if other_seen else list(options),
                "matrix": matrix,
                "n": sum(counts.values()),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "primary_verdict": self.primary,  # the field the confusion matrices are about
            "models": {m: s.to_dict() for m, s in self.stats.items()},
            "agreement": self._agreement(),
            "accuracy": {
                m: {
                    "n": self.acc_n[m],
                    "correct": self.acc_correct[m],
                    "accuracy": _ratio(self.acc_correct[m], self.acc_n[m]),
                    **_interval(self.acc_correct[m], self.acc_n[m]),
                    "by_field": {
                        f: {
                            "n": self.acc_n[m],
                            "correct": self.field_correct[(m, f)],
                            "accuracy": _ratio(self.field_correct[(m, f)], self.acc_n[m]),
                            **_interval(self.field_correct[(m, f)], self.acc_n[m]),
                        }
                        for f in self.verdict_fields
                    },
                }
                for m in self.models
            },
            "win_rate": {
                m: {"wins": self.wins[m], "n": self.pref_n, "rate": _ratio(self.wins[m], self.pref_n),
                    **_interval(self.wins[m], self.pref_n)}
                for m in self.models
            },
            "preferences": {"n": self.pref_n, "tie": self.ties, "all_bad": self.all_bad},
            "confusion": self._confusion(),
            "paired": self._paired(),
        }

"""domain/stats against scipy.stats / statsmodels (test dependencies only) and hand-computed cases."""

from __future__ import annotations

import random
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from workbench.domain import stats
from workbench.domain.metrics import MetricsAccumulator, kappa_from_counts

CASES = [(0, 1), (1, 1), (3, 5), (0, 7), (7, 7), (41, 58), (12, 21), (17, 58), (1000, 2100), (2999, 6100),
         (50_123, 100_000)]


@pytest.mark.parametrize(("k", "n"), CASES)
def test_wilson_matches_statsmodels(k, n):
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert stats.wilson(k, n) == pytest.approx((low, high), abs=1e-7)


def test_wilson_hand_computed_and_edges():
    # 3 of 5, z = 1.96: centre (0.6 + 0.3842) / 1.7683 = 0.5567, half 0.3258 -> 0.2307 .. 0.8824
    assert stats.wilson(3, 5) == pytest.approx((0.2307, 0.8824), abs=1e-4)
    assert stats.wilson(0, 0) is None
    assert stats.wilson(0, 7)[0] == 0.0 and stats.wilson(7, 7)[1] == 1.0


def test_proportion():
    assert stats.proportion(3, 5) == {"k": 3, "n": 5, "value": 0.6, "low": pytest.approx(0.2307, abs=1e-4),
                                      "high": pytest.approx(0.8824, abs=1e-4), "small": True}
    assert stats.proportion(0, 0) == {"k": 0, "n": 0, "value": None, "low": None, "high": None, "small": True}
    assert stats.proportion(30, 30)["small"] is False


@pytest.mark.parametrize(("k", "n"), CASES + [(0, 0), (5, 10), (250_000, 500_001), (1, 3000), (2990, 3000)])
def test_exact_binomial_matches_scipy(k, n):
    expected = binomtest(k, n, 0.5).pvalue if n else 1.0
    assert stats.exact_binomial_two_sided(k, n) == pytest.approx(expected, rel=1e-8, abs=1e-300)


def test_exact_binomial_hand_computed():
    # 0 of 6: 2 * (1/64) = 1/32; 1 of 6: 2 * 7/64 = 7/32; 3 of 6 is the centre: 1
    assert stats.exact_binomial_two_sided(0, 6) == 1 / 32
    assert stats.exact_binomial_two_sided(1, 6) == 7 / 32
    assert stats.exact_binomial_two_sided(3, 6) == 1.0


@pytest.mark.parametrize(("b", "c"), [(41, 17), (17, 41), (12, 9), (3, 0), (0, 0), (100, 130), (5, 25)])
def test_mcnemar_matches_statsmodels(b, c):
    result = stats.mcnemar_exact(b, c)
    table = [[10, b], [c, 10]]
    assert result["p"] == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-9)
    assert (result["a"], result["b"], result["n"]) == (b, c, b + c)


def test_verdicts_in_plain_words():
    assert stats.mcnemar_exact(41, 17, names=("A", "B"))["verdict"] == "A is better: 41 vs 17 discordant, p = 0.002"
    assert stats.mcnemar_exact(17, 41, names=("A", "B"))["verdict"] == "B is better: 41 vs 17 discordant, p = 0.002"
    assert stats.mcnemar_exact(12, 9)["verdict"] == "no evidence of a difference (12 vs 9, p = 0.66)"
    assert stats.mcnemar_exact(41, 37)["verdict"] == "no evidence of a difference (41 vs 37, p = 0.73)"
    assert stats.mcnemar_exact(2, 1)["verdict"] == "too few to tell: 3 discordant"
    assert stats.mcnemar_exact(2, 1)["small"] is True and stats.mcnemar_exact(41, 17)["small"] is False
    assert stats.mcnemar_exact(300, 100, names=("x", "y"))["verdict"].endswith("p < 0.001")
    sign = stats.sign_test(30, 10, names=("gpt", "llama"))
    assert sign["verdict"] == "gpt is better: 30 vs 10 preferred, p = 0.002"
    assert sign["p"] == pytest.approx(binomtest(30, 40).pvalue)
    assert stats.sign_test(1, 2)["verdict"] == "too few to tell: 3 decided preferences"


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 3000))
def test_properties_of_intervals_and_tests(k, extra):
    n = k + extra
    interval = stats.wilson(k, n)
    if n:
        low, high = interval
        assert 0.0 <= low <= k / n <= high <= 1.0
    else:
        assert interval is None
    p = stats.exact_binomial_two_sided(k, n)
    assert 0.0 <= p <= 1.0
    assert p == stats.exact_binomial_two_sided(n - k, n)  # symmetric under swapping the two sides
    forward, backward = stats.mcnemar_exact(k, extra), stats.mcnemar_exact(extra, k)
    assert forward["p"] == backward["p"] and forward["n"] == backward["n"]


def test_binomial_sampler_moments_and_reproducibility():
    rng = random.Random(3)
    for n, p in [(50, 0.1), (100_000, 0.3), (200_000, 0.9), (7, 0.5)]:
        draws = [stats.binomial_variate(rng, n, p) for _ in range(20_000)]
        assert all(0 <= x <= n for x in draws)
        assert statistics.mean(draws) == pytest.approx(n * p, rel=0.01)
        assert statistics.pvariance(draws) == pytest.approx(n * p * (1 - p), rel=0.06)
    assert [stats.binomial_variate(random.Random(5), 1000, 0.4) for _ in range(3)] == \
           [stats.binomial_variate(random.Random(5), 1000, 0.4) for _ in range(3)]
    assert stats.binomial_variate(rng, 10, 0.0) == 0 and stats.binomial_variate(rng, 10, 1.0) == 10


def test_multinomial_keeps_the_total():
    counts = stats.multinomial_counts(random.Random(1), 200_000, [8000, 0, 30, 191_970])
    assert sum(counts) == 200_000 and counts[1] == 0


def test_bootstrap_kappa_reproducible_and_seeded():
    joint = Counter({("y", "y"): 20, ("n", "n"): 15, ("y", "n"): 5, ("n", "y"): 3})
    first = stats.bootstrap_kappa(joint, 43)
    assert first == stats.bootstrap_kappa(dict(reversed(list(joint.items()))), 43)  # order of cells
    assert first != stats.bootstrap_kappa(joint, 43, seed=17)
    low, high = first
    assert low < kappa_from_counts(joint, 43) < high
    assert stats.bootstrap_kappa(joint, 1) is None
    assert stats.bootstrap_kappa({}, 0) is None


def test_bootstrap_kappa_covers_the_true_kappa():
    """Simulated raters with a known kappa: the 95% interval covers it in about 95% of samples."""
    # Two raters, two labels, each 50/50, agreeing with probability 0.8: true kappa = 0.6.
    rng = random.Random(11)
    covered = trials = 0
    for trial in range(60):
        joint: Counter = Counter()
        for _ in range(200):
            a = rng.random() < 0.5
            b = a if rng.random() < 0.8 else not a
            joint[(a, b)] += 1
        interval = stats.bootstrap_kappa(joint, 200, seed=trial, rounds=400)
        trials += 1
        covered += interval[0] <= 0.6 <= interval[1]
    assert covered / trials >= 0.85


def test_bootstrap_kappa_at_200k_is_o_cells():
    joint = Counter({(i, j): 8000 + (3000 if i == j else 0) + 7 * i + j for i in range(5) for j in range(5)})
    n = sum(joint.values())
    low, high = stats.bootstrap_kappa(joint, n)
    assert low < kappa_from_counts(joint, n) < high and high - low < 0.01


def test_accumulator_intervals_and_paired_tests():
    fields = {"v": ["y", "n"]}
    acc = MetricsAccumulator(["a", "b"], fields, "v")
    # 12 labelled records: a right on all; b right on 4. Discordant: a only 8, b only 0.
    for i in range(12):
        acc.add(outputs={"a": {"v": "y"}, "b": {"v": "y" if i < 4 else "n"}}, results={},
                reference={"v": "y"}, preference="a" if i < 9 else ("b" if i < 10 else "tie"))
    d = acc.to_dict()
    accuracy = d["accuracy"]["b"]
    assert (accuracy["correct"], accuracy["n"]) == (4, 12)
    assert (accuracy["low"], accuracy["high"]) == pytest.approx(proportion_confint(4, 12, method="wilson"), abs=1e-7)
    assert accuracy["small"] is True
    assert d["accuracy"]["a"]["by_field"]["v"]["high"] == 1.0
    agreement = d["agreement"]["v"][0]
    assert (agreement["low"], agreement["high"]) == pytest.approx(proportion_confint(4, 12, method="wilson"), abs=1e-7)
    # a always said "y": kappa is 0 in every resample where b varies
    assert agreement["kappa"] == agreement["kappa_low"] == agreement["kappa_high"] == 0.0
    win = d["win_rate"]["a"]
    assert (win["wins"], win["n"]) == (9, 12)
    assert (win["low"], win["high"]) == pytest.approx(proportion_confint(9, 12, method="wilson"), abs=1e-7)
    [paired] = d["paired"]
    assert paired["models"] == ["a", "b"] and paired["field"] == "v" and paired["labelled"] == 12
    assert (paired["mcnemar"]["a"], paired["mcnemar"]["b"]) == (8, 0)
    assert paired["mcnemar"]["p"] == pytest.approx(mcnemar([[4, 8], [0, 0]], exact=True).pvalue)
    assert paired["mcnemar"]["verdict"] == "too few to tell: 8 discordant"
    assert (paired["sign"]["a"], paired["sign"]["b"]) == (9, 1)
    assert paired["sign"]["verdict"] == "a is better: 9 vs 1 preferred, p = 0.021"


def test_accumulator_kappa_interval_present_when_defined():
    acc = MetricsAccumulator(["a", "b"], {"v": ["y", "n"]}, "v")
    rng = random.Random(2)
    for _ in range(300):
        a = rng.choice("yn")
        acc.add(outputs={"a": {"v": a}, "b": {"v": a if rng.random() < 0.85 else rng.choice("yn")}}, results={})
    row = acc.to_dict()["agreement"]["v"][0]
    assert row["kappa_low"] < row["kappa"] < row["kappa_high"]
    assert row["low"] < row["percent"] < row["high"] and row["small"] is False


def test_the_summary_export_carries_intervals_and_paired_tests():
    from workbench.domain.summary_export import summary_rows

    acc = MetricsAccumulator(["a", "b"], {"v": ["y", "n"]}, "v")
    for i in range(40):
        acc.add(outputs={"a": {"v": "y"}, "b": {"v": "y" if i < 10 else "n"}}, results={},
                reference={"v": "y"}, preference="a" if i < 30 else "b")
    metrics = acc.to_dict()
    metrics["icl"] = [{"model_id": "a", "field": "v", "zero_shot": {"n": 5, "correct": 2, "accuracy": 0.4},
                       "difference": stats.paired_difference(1, 2, 1, 1), "mcnemar": stats.mcnemar_exact(2, 1),
                       "excluded_self_labelled": 3, "excluded_note": "left out: 3 records"}]
    rows = {(r["section"], r["model"], r["other"], r["field"], r["metric"]): r["value"] for r in summary_rows(metrics)}
    assert rows[("accuracy", "b", "", "", "low")] == pytest.approx(proportion_confint(10, 40, method="wilson")[0])
    assert rows[("accuracy", "b", "", "v", "small")] is False
    assert rows[("agreement", "a", "b", "v", "high")] == metrics["agreement"]["v"][0]["high"]
    assert ("agreement", "a", "b", "v", "kappa_low") in rows
    assert rows[("win_rate", "a", "", "", "high")] == metrics["win_rate"]["a"]["high"]
    assert (rows[("paired", "a", "b", "v", "mcnemar_a")], rows[("paired", "a", "b", "v", "mcnemar_b")]) == (30, 0)
    assert rows[("paired", "a", "b", "v", "mcnemar_verdict")] == "a is better: 30 vs 0 discordant, p < 0.001"
    assert rows[("paired", "a", "b", "v", "sign_p")] == pytest.approx(binomtest(30, 40).pvalue)
    assert rows[("few_shot", "a", "", "v", "excluded_self_labelled")] == 3
    assert rows[("few_shot", "a", "", "v", "difference_value")] == pytest.approx(0.2)
    assert rows[("few_shot", "a", "", "v", "mcnemar_verdict")] == "too few to tell: 3 discordant"


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from("abc"), st.sampled_from("abd")), st.integers(0, 50), max_size=9))
def test_the_bootstraps_kappa_is_the_metrics_kappa(table):
    cells = sorted(((k, c) for k, c in table.items() if c), key=lambda kc: repr(kc[0]))
    n = sum(c for _, c in cells)
    expected = kappa_from_counts(Counter(dict(cells)), n) if n else None
    assert stats._table_kappa(cells, [c for _, c in cells], n) == expected


def test_multinomial_moments_where_draws_are_normal():
    rng = random.Random(9)
    weights = [8000, 120, 50_000, 141_880]
    draws = [stats.multinomial_counts(rng, 200_000, weights) for _ in range(3000)]
    for i, w in enumerate(weights):
        column = [d[i] for d in draws]
        p = w / 200_000
        assert statistics.mean(column) == pytest.approx(200_000 * p, rel=0.01)
        assert statistics.pvariance(column) == pytest.approx(200_000 * p * (1 - p), rel=0.1)

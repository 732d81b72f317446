"""Metrics: Cohen's kappa against hand-computed values, and the streaming accumulator."""

from __future__ import annotations

import random
import tracemalloc
from collections import Counter

import pytest

from workbench.domain.metrics import MetricsAccumulator, accuracy_on, cohen_kappa, kappa_from_counts

REC = ["Strong Yes", "Yes", "Maybe", "No", "Strong No"]
TRAJ = ["Strong", "Good", "Average", "Weak"]
FIELDS = {"recommendation": REC, "trajectory": TRAJ}


def pairs_from(joint: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [pair for pair, count in joint.items() for _ in range(count)]


# --- Cohen's kappa --------------------------------------------------------------


def test_kappa_hand_computed():
    # 10 items, labels Y/N. Joint counts: YY=4, YN=2, NY=1, NN=3.
    # p_o = (4 + 3) / 10 = 0.7
    # rater a: Y=6, N=4 -> 0.6 / 0.4; rater b: Y=5, N=5 -> 0.5 / 0.5
    # p_e = 0.6*0.5 + 0.4*0.5 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    joint = {("Y", "Y"): 4, ("Y", "N"): 2, ("N", "Y"): 1, ("N", "N"): 3}
    assert cohen_kappa(pairs_from(joint)) == pytest.approx(0.4)
    assert kappa_from_counts(Counter(joint), 10) == pytest.approx(0.4)


def test_kappa_perfect_agreement():
    assert cohen_kappa([("Y", "Y"), ("N", "N"), ("M", "M"), ("Y", "Y")]) == 1.0


def test_kappa_total_disagreement_is_negative():
    # p_o = 0, p_e = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa = -0.5 / 0.5 = -1
    assert cohen_kappa([("Y", "N"), ("N", "Y")]) == pytest.approx(-1.0)


def test_kappa_undefined_cases():
    assert cohen_kappa([]) is None
    assert kappa_from_counts(Counter(), 0) is None
    # Both raters always gave the same single label: p_e = 1, p_o = 1 -> defined as 1.0.
    assert cohen_kappa([("Y", "Y")] * 5) == 1.0
    assert kappa_from_counts(Counter({("Y", "Y"): 2}), 2) == 1.0


def test_kappa_chance_level_is_zero():
    # 10 items. rater a: Y=8, N=2; rater b: Y=5, N=5
    # p_e = 0.8*0.5 + 0.2*0.5 = 0.5
    # joint YY=4, YN=4, NY=1, NN=1 -> p_o = (4 + 1) / 10 = 0.5 = p_e -> kappa = 0
    joint = {("Y", "Y"): 4, ("Y", "N"): 4, ("N", "Y"): 1, ("N", "N"): 1}
    assert cohen_kappa(pairs_from(joint)) == pytest.approx(0.0, abs=1e-12)


def test_kappa_accepts_any_hashable_labels():
    assert cohen_kappa([(1, 1), (None, None), (1, None)]) == pytest.approx(cohen_kappa([("a", "a"), ("b", "b"), ("a", "b")]))


# --- accuracy_on ----------------------------------------------------------------


def test_accuracy_on_skips_missing_sides():
    rows = [
        ({"recommendation": "Yes"}, {"recommendation": "Yes"}),
        ({"recommendation": "No"}, {"recommendation": "Yes"}),
        (None, {"recommendation": "Yes"}),
        ({"recommendation": "Yes"}, None),
        ({"recommendation": "Maybe"}, {"recommendation": "Maybe"}),
    ]
    assert accuracy_on(rows, "recommendation") == {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}
    assert accuracy_on([], "recommendation") == {"n": 0, "correct": 0, "accuracy": None}


# --- accumulator over hand-built records ------------------------------------------


def res(status="ok", kind=None, latency=None, tin=None, tout=None, cached=False):
    return {"status": status, "error_kind": kind, "latency_ms": latency, "tokens_in": tin, "tokens_out": tout, "cached": cached}


def out(rec, traj):
    return {"recommendation": rec, "trajectory": traj, "notes": "free text, not a verdict"}


# Six records, models a/b/c. Covers: errors (a on r4, c on r1/r5), a missing result
# (c on r2), a cached result (a on r2, latency excluded), references on r1/r3/r4/r6,
# preferences incl. tie and all_bad (none on r5), and b's off-options label on r3.
RECORDS = [
    dict(  # r1
        outputs={"a": out("Yes", "Good"), "b": out("Yes", "Average"), "c": None},
        results={"a": res(latency=100, tin=10, tout=5), "b": res(latency=200, tin=12, tout=6),
                 "c": res("error", "timeout", latency=50, tin=8)},
        reference=out("Yes", "Good"), preference="a",
    ),
    dict(  # r2
        outputs={"a": out("No", "Weak"), "b": out("No", "Weak"), "c": None},
        results={"a": res(latency=300, tin=10, tout=5, cached=True), "b": res(latency=100, tin=11, tout=4), "c": None},
        reference=None, preference="tie",
    ),
    dict(  # r3
        outputs={"a": out("Maybe", "Good"), "b": out("Definitely", "Good"), "c": out("Maybe", "Strong")},
        results={"a": res(latency=200, tin=10, tout=5), "b": res(latency=300, tin=12, tout=6),
                 "c": res(latency=400, tin=9, tout=3)},
        reference=out("Maybe", "Strong"), preference="b",
    ),
    dict(  # r4
        outputs={"a": None, "b": out("Strong Yes", "Strong"), "c": out("Strong Yes", "Strong")},
        results={"a": res("error", "rate_limit"), "b": res(latency=100, tin=12, tout=6),
                 "c": res(latency=100, tin=9, tout=3)},
        reference=out("Yes", "Strong"), preference="all_bad",
    ),
    dict(  # r5
        outputs={"a": out("Yes", "Good"), "b": out("Yes", "Good"), "c": None},
        results={"a": res(latency=100, tin=10, tout=5), "b": res(latency=200, tin=12, tout=6),
                 "c": res("error", "timeout", latency=200, tin=9)},
    ),
    dict(  # r6
        outputs={"a": out("No", "Average"), "b": out("Maybe", "Average"), "c": out("No", "Average")},
        results={"a": res(latency=200, tin=10, tout=5), "b": res(latency=100, tin=12, tout=6),
                 "c": res(latency=300, tin=9, tout=3)},
        reference=out("No", "Average"), preference="c",
    ),
]


INTERVAL_KEYS = {"low", "high", "small", "kappa_low", "kappa_high"}


def without_intervals(value):
    """The figures as they were before #16 added intervals (tests/test_stats.py checks those)."""
    if isinstance(value, dict):
        return {k: without_intervals(v) for k, v in value.items() if k not in INTERVAL_KEYS}
    if isinstance(value, list):
        return [without_intervals(v) for v in value]
    return value


def accumulate(primary):
    acc = MetricsAccumulator(["a", "b", "c"], FIELDS, primary)
    for record in RECORDS:
        acc.add(**record)
    return acc.to_dict()


def test_accumulator_every_figure():
    d = accumulate("recommendation")
    assert set(d) == {"records", "primary_verdict", "models", "agreement", "accuracy", "win_rate", "preferences", "confusion",
                      "paired"}
    assert d["records"] == 6

    assert d["models"] == {
        # a: ok on r1,r2,r3,r5,r6; latency over r1,r3,r5,r6 (r2 cached, r4 none) = 600/4
        "a": {"answered": 5, "errors": 1, "errors_by_kind": {"rate_limit": 1},
              "mean_latency_ms": 150.0, "tokens_in": 50, "tokens_out": 25},
        # b: 200+100+300+100+200+100 = 1000 over 6
        "b": {"answered": 6, "errors": 0, "errors_by_kind": {},
              "mean_latency_ms": pytest.approx(1000 / 6), "tokens_in": 71, "tokens_out": 34},
        # c: no result on r2; error latencies count: 50+400+100+200+300 = 1050 over 5
        "c": {"answered": 3, "errors": 2, "errors_by_kind": {"timeout": 2},
              "mean_latency_ms": 210.0, "tokens_in": 44, "tokens_out": 9},
    }

    # kappa = (agree*n - Σ a_k*b_k) / (n² - Σ a_k*b_k), same formula as p_o, p_e.
    assert without_intervals(d["agreement"]) == {
        "recommendation": [
            # r1,r2,r3,r5,r6; agree r1,r2,r5. a: Yes2 No2 Maybe1; b: Yes2 No1 Maybe1 Definitely1
            # Σ = 4+2+1 = 7 -> (15-7)/(25-7) = 4/9
            {"models": ["a", "b"], "n": 5, "percent": pytest.approx(0.6), "kappa": pytest.approx(4 / 9)},
            # r3,r6 both agree: Maybe, No -> Σ = 2 -> (4-2)/(4-2) = 1
            {"models": ["a", "c"], "n": 2, "percent": 1.0, "kappa": pytest.approx(1.0)},
            # r3,r4,r6; agree r4. b: Definitely, Strong Yes, Maybe; c: Maybe, Strong Yes, No
            # Σ = 1 (Strong Yes) + 1 (Maybe) = 2 -> (3-2)/(9-2) = 1/7
            {"models": ["b", "c"], "n": 3, "percent": pytest.approx(1 / 3), "kappa": pytest.approx(1 / 7)},
        ],
        "trajectory": [
            # agree r2,r3,r5,r6. a: Good3 Weak1 Average1; b: Average2 Weak1 Good2
            # Σ = 6+1+2 = 9 -> (20-9)/(25-9) = 11/16
            {"models": ["a", "b"], "n": 5, "percent": pytest.approx(0.8), "kappa": pytest.approx(11 / 16)},
            # r3 Good/Strong, r6 Average/Average -> Σ = 1 -> (2-1)/(4-1) = 1/3
            {"models": ["a", "c"], "n": 2, "percent": 0.5, "kappa": pytest.approx(1 / 3)},
            # r3 Good/Strong, r4 Strong/Strong, r6 Average/Average. b: G1 S1 A1; c: S2 A1
            # Σ = 2+1 = 3 -> (6-3)/(9-3) = 1/2
            {"models": ["b", "c"], "n": 3, "percent": pytest.approx(2 / 3), "kappa": pytest.approx(0.5)},
        ],
    }

    assert without_intervals(d["accuracy"]) == {
        # r1,r3,r6 (no answer on r4). rec all right; trajectory wrong on r3.
        "a": {"n": 3, "correct": 3, "accuracy": 1.0, "by_field": {
            "recommendation": {"n": 3, "correct": 3, "accuracy": 1.0},
            "trajectory": {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}}},
        # r1,r3,r4,r6. rec right on r1 only; trajectory right on r4, r6.
        "b": {"n": 4, "correct": 1, "accuracy": 0.25, "by_field": {
            "recommendation": {"n": 4, "correct": 1, "accuracy": 0.25},
            "trajectory": {"n": 4, "correct": 2, "accuracy": 0.5}}},
        # r3,r4,r6. rec wrong on r4; trajectory all right.
        "c": {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3), "by_field": {
            "recommendation": {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)},
            "trajectory": {"n": 3, "correct": 3, "accuracy": 1.0}}},
    }

    # 5 records with a preference (r5 has none), incl. one tie and one all_bad.
    assert without_intervals(d["win_rate"]) == {
        "a": {"wins": 1, "n": 5, "rate": 0.2},
        "b": {"wins": 1, "n": 5, "rate": 0.2},
        "c": {"wins": 1, "n": 5, "rate": 0.2},
    }
    assert d["preferences"] == {"n": 5, "tie": 1, "all_bad": 1}

    # rows = reference, columns = model, order Strong Yes, Yes, Maybe, No, Strong No (+ other)
    assert d["confusion"] == {
        "a": {"labels": REC, "n": 3, "matrix": [
            [0, 0, 0, 0, 0],
            [0, 1, 0, 0, 0],  # Yes -> Yes (r1)
            [0, 0, 1, 0, 0],  # Maybe -> Maybe (r3)
            [0, 0, 0, 1, 0],  # No -> No (r6)
            [0, 0, 0, 0, 0]]},
        "b": {"labels": REC + ["other"], "n": 4, "matrix": [
            [0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],  # Yes -> Strong Yes (r4), Yes -> Yes (r1)
            [0, 0, 0, 0, 0, 1],  # Maybe -> "Definitely" (r3)
            [0, 0, 1, 0, 0, 0],  # No -> Maybe (r6)
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0]]},
        "c": {"labels": REC, "n": 3, "matrix": [
            [0, 0, 0, 0, 0],
            [1, 0, 0, 0, 0],  # Yes -> Strong Yes (r4)
            [0, 0, 1, 0, 0],  # Maybe -> Maybe (r3)
            [0, 0, 0, 1, 0],  # No -> No (r6)
            [0, 0, 0, 0, 0]]},
    }


def test_accumulator_without_primary_needs_all_fields_right():
    d = accumulate(None)
    assert d["confusion"] == {}
    # a: r1 both right, r3 trajectory wrong, r6 both right
    # b: every referenced record has a wrong field; c: r3 and r6 fully right, r4 not
    assert {m: (v["n"], v["correct"]) for m, v in d["accuracy"].items()} == {"a": (3, 2), "b": (4, 0), "c": (3, 2)}
    assert without_intervals(d["accuracy"]["a"]["by_field"]["trajectory"]) == {"n": 3, "correct": 2, "accuracy": pytest.approx(2 / 3)}


def test_accumulator_empty():
    d = MetricsAccumulator(["a", "b"], FIELDS, "recommendation").to_dict()
    assert d["records"] == 0
    assert d["models"]["a"] == {"answered": 0, "errors": 0, "errors_by_kind": {}, "mean_latency_ms": None,
                                "tokens_in": 0, "tokens_out": 0}
    assert without_intervals(d["agreement"]["recommendation"]) == [{"models": ["a", "b"], "n": 0, "percent": None, "kappa": None}]
    assert d["accuracy"]["a"]["accuracy"] is None
    assert without_intervals(d["win_rate"]["a"]) == {"wins": 0, "n": 0, "rate": None}
    assert d["confusion"]["a"] == {"labels": REC, "matrix": [[0] * 5 for _ in range(5)], "n": 0}


# --- streaming ----------------------------------------------------------------------


def generated_records(n: int, models: list[str], seed: int = 7):
    """Yield records one at a time, never holding them all."""
    rng = random.Random(seed)
    for i in range(n):
        outputs, results = {}, {}
        for m in models:
            roll = rng.random()
            if roll < 0.05:
                outputs[m] = results[m] = None
            elif roll < 0.15:
                outputs[m] = None
                results[m] = res("error", rng.choice(["timeout", "rate_limit"]), latency=rng.uniform(1, 900))
            else:
                outputs[m] = out(rng.choice(REC + ["Unsure"]), rng.choice(TRAJ))
                results[m] = res(latency=rng.uniform(1, 900), tin=rng.randint(1, 500), tout=rng.randint(1, 50),
                                 cached=rng.random() < 0.1)
        reference = out(rng.choice(REC), rng.choice(TRAJ)) if i % 3 == 0 else None
        preference = rng.choice([None, "tie", "all_bad", *models])
        yield dict(outputs=outputs, results=results, reference=reference, preference=preference)


def test_streaming_100k_records_in_bounded_memory():
    models = ["m1", "m2", "m3"]
    n = 100_000
    tracemalloc.start()
    try:
        acc = MetricsAccumulator(models, FIELDS, "recommendation")
        for record in generated_records(n, models):
            acc.add(**record)
        d = acc.to_dict()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 5 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB: something is stored per record"
    assert d["records"] == n
    for m in models:
        stats = d["models"][m]
        assert 0 < stats["answered"] + stats["errors"] <= n
        assert d["confusion"][m]["labels"][-1] == "other"  # "Unsure" is off-options
        assert d["confusion"][m]["n"] == d["accuracy"][m]["n"] == sum(map(sum, d["confusion"][m]["matrix"]))
    assert d["preferences"]["n"] == sum(d["win_rate"][m]["wins"] for m in models) + d["preferences"]["tie"] + d["preferences"]["all_bad"]
    for rows in d["agreement"].values():
        for row in rows:
            assert row["n"] > 0 and -1 <= row["kappa"] <= 1

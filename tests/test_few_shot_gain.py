"""Honest few-shot gains (issue #16 item 2): a record whose label is the compared model's own unedited
answer is left out (it scores that run 100% by construction), with how many and why; the gain is a
paired difference with Newcombe's interval and the exact McNemar test on the same records."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from testkit.scale import answer
from tests.test_columns import CLIENT, LOCAL, _run
from workbench.domain import stats
from workbench.service.curation import annotate
from workbench.service.few_shot_gain import icl_comparison, self_labelled
from workbench.service.workspace import sample_path
from workbench.store.datasets import import_dataset
from workbench.web.app import create_app

FIX = {"recommendation": "Strong No", "trajectory": "Weak", "pedigree": "Weak", "reasoning": "fixed by hand"}


def rid(seq: int) -> str:
    return f"cand-{seq:06d}"


@pytest.fixture
def runs(store):
    dataset = import_dataset(store, sample_path(), name="cands")
    zero = _run(store, dataset.id, "gemma")
    olmo = _run(store, dataset.id, "olmo")
    few = _run(store, dataset.id, "gemma", answers_of="gemma-few", options={"few_shot": 1, "example_ids": [rid(10)]})
    return dataset.id, {"zero": zero, "olmo": olmo, "few": few}


def test_the_issue_example_labels_that_are_the_models_own_answers_are_left_out(store, runs):
    dataset_id, run = runs
    # The issue's example: golden labels are the zero-shot run's own answers (zero-shot 100% by construction).
    for seq in range(1, 6):
        annotate(store, dataset_id=dataset_id, record_id=rid(seq), field="golden", value=True, run_id=run["zero"])
    [row] = icl_comparison(store, dataset_id)
    assert row["excluded_self_labelled"] == 5
    assert row["zero_shot"]["n"] == row["few_shot"]["n"] == 0 and row["zero_shot"]["accuracy"] is None
    assert row["excluded_note"] == ("left out: 5 records whose label is gemma's own unedited answer "
                                    "(it would score that run 100% by construction)")
    assert row["difference"]["value"] is None and row["mcnemar"]["verdict"] == "too few to tell: 0 discordant"


def test_corrections_and_other_models_labels_count_and_the_gain_is_paired(store, runs):
    dataset_id, run = runs
    for seq in range(1, 4):  # gemma's own answers: left out
        annotate(store, dataset_id=dataset_id, record_id=rid(seq), field="golden", value=True, run_id=run["few"])
    for seq in range(4, 7):  # gemma's answers as a person fixed them: a real label
        annotate(store, dataset_id=dataset_id, record_id=rid(seq), field="correction", value=FIX, run_id=run["zero"])
    for seq in range(7, 11):  # olmo's answers: a real label for gemma (10 is the few-shot example)
        annotate(store, dataset_id=dataset_id, record_id=rid(seq), field="golden", value=True, run_id=run["olmo"])
    [row] = icl_comparison(store, dataset_id)
    assert row["excluded_self_labelled"] == 3 and row["excluded_examples"] == 1
    assert row["excluded_note"].startswith("left out: 1 example record (a run is never scored on its own examples); "
                                           "3 records whose label is gemma's own unedited answer")

    labels = {seq: FIX for seq in range(4, 7)} | {seq: answer(rid(seq), "olmo") for seq in range(7, 10)}
    zero_right = {seq: answer(rid(seq), "gemma")["recommendation"] == label["recommendation"]
                  for seq, label in labels.items()}
    few_right = {seq: answer(rid(seq), "gemma-few")["recommendation"] == label["recommendation"]
                 for seq, label in labels.items()}
    zero_figure = stats.proportion(sum(zero_right.values()), 6)
    assert row["zero_shot"] | {"run_id": 0} == {"run_id": 0, "n": 6, "correct": sum(zero_right.values()),
                                                "accuracy": sum(zero_right.values()) / 6, "low": zero_figure["low"],
                                                "high": zero_figure["high"], "small": True}
    assert row["few_shot"]["n"] == 6 and row["few_shot"]["correct"] == sum(few_right.values())
    both = sum(zero_right[s] and few_right[s] for s in labels)
    few_only = sum(few_right[s] and not zero_right[s] for s in labels)
    zero_only = sum(zero_right[s] and not few_right[s] for s in labels)
    expected = stats.paired_difference(both, few_only, zero_only, 6 - both - few_only - zero_only)
    assert row["difference"] == expected
    assert row["difference"]["value"] == pytest.approx((sum(few_right.values()) - sum(zero_right.values())) / 6)
    assert row["difference"]["low"] <= row["difference"]["value"] <= row["difference"]["high"]
    assert (row["mcnemar"]["a"], row["mcnemar"]["b"]) == (few_only, zero_only)


def test_the_metrics_api_says_it(settings, store, runs):
    dataset_id, run = runs
    for seq in range(1, 6):
        annotate(store, dataset_id=dataset_id, record_id=rid(seq), field="golden", value=True, run_id=run["zero"])
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as client:
        [row] = client.get("/api/metrics", params={"dataset_id": dataset_id}).json()["icl"]
    assert row["excluded_self_labelled"] == 5 and "own unedited answer" in row["excluded_note"]
    assert set(row["difference"]) == {"n", "value", "low", "high", "small"}
    assert set(row["mcnemar"]) == {"a", "b", "n", "p", "verdict", "small"}


def test_self_labelled():
    assert self_labelled({"model_id": "gemma", "corrected": False}, "gemma")
    assert not self_labelled({"model_id": "gemma", "corrected": True}, "gemma")
    assert not self_labelled({"model_id": "olmo", "corrected": False}, "gemma")
    assert not self_labelled(None, "gemma")


def test_newcombe_paired_difference_hand_computed():
    # Newcombe (1998) Table II, example (a): 36 both, 12 first only, 2 second only, 0 neither:
    # difference 0.2, method 10 interval 0.0569 to 0.3404.
    d = stats.paired_difference(36, 12, 2, 0)
    assert d["n"] == 50 and d["value"] == pytest.approx(0.2)
    assert (d["low"], d["high"]) == pytest.approx((0.0569, 0.3404), abs=1e-4)
    assert stats.paired_difference(0, 0, 0, 0)["value"] is None
    flipped = stats.paired_difference(36, 2, 12, 0)
    assert (flipped["low"], flipped["high"]) == pytest.approx((-d["high"], -d["low"]))

"""/api/metrics carries n, 95% intervals and paired tests (issue #16 item 1), on a small dataset built
through the store: every number checked against statsmodels / scipy or the formulas by hand."""

from __future__ import annotations

from collections import Counter

import pytest
from fastapi.testclient import TestClient
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from testkit.scale import answer
from tests.test_columns import CLIENT, LOCAL, _run
from workbench.domain import stats
from workbench.domain.metrics import kappa_from_counts
from workbench.service.curation import annotate
from workbench.service.workspace import sample_path
from workbench.store.datasets import import_dataset
from workbench.web.app import create_app

SEQS = range(1, 11)


def rid(seq: int) -> str:
    return f"cand-{seq:06d}"


@pytest.fixture
def metrics(settings, store):
    dataset = import_dataset(store, sample_path(), name="cands")
    _run(store, dataset.id, "gemma")
    olmo = _run(store, dataset.id, "olmo")
    for seq in range(1, 9):  # olmo's answers are the labels on records 1-8
        annotate(store, dataset_id=dataset.id, record_id=rid(seq), field="golden", value=True, run_id=olmo)
    for seq in range(1, 7):
        annotate(store, dataset_id=dataset.id, record_id=rid(seq), field="preference",
                 value="gemma" if seq <= 4 else "olmo")
    annotate(store, dataset_id=dataset.id, record_id=rid(7), field="preference", value="tie")
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as client:
        response = client.get("/api/metrics", params={"dataset_id": dataset.id, "models": "gemma,olmo"})
        assert response.status_code == 200, response.text
        return response.json()


def wilson(k, n):
    return pytest.approx(proportion_confint(k, n, alpha=0.05, method="wilson"), abs=1e-7)


def test_accuracy_and_win_rate_carry_wilson_intervals(metrics):
    gemma_right = sum(answer(rid(s), "gemma")["recommendation"] == answer(rid(s), "olmo")["recommendation"]
                      for s in range(1, 9))
    gemma = metrics["accuracy"]["gemma"]
    assert (gemma["correct"], gemma["n"], gemma["small"]) == (gemma_right, 8, True)
    assert (gemma["low"], gemma["high"]) == wilson(gemma_right, 8)
    olmo = metrics["accuracy"]["olmo"]
    assert (olmo["correct"], olmo["n"], olmo["high"]) == (8, 8, 1.0)
    assert (olmo["low"], olmo["high"]) == wilson(8, 8)
    by_field = metrics["accuracy"]["olmo"]["by_field"]["trajectory"]
    assert (by_field["low"], by_field["high"]) == wilson(8, 8)
    win = metrics["win_rate"]["gemma"]
    assert (win["wins"], win["n"]) == (4, 7) and (win["low"], win["high"]) == wilson(4, 7) and win["small"]


def test_agreement_carries_wilson_and_bootstrap_kappa_intervals(metrics):
    joint = Counter((answer(rid(s), "gemma")["recommendation"], answer(rid(s), "olmo")["recommendation"])
                    for s in SEQS)
    agree = sum(c for (a, b), c in joint.items() if a == b)
    [row] = metrics["agreement"]["recommendation"]
    assert row["models"] == ["gemma", "olmo"] and row["n"] == 10
    assert row["percent"] == pytest.approx(agree / 10) and (row["low"], row["high"]) == wilson(agree, 10)
    assert row["kappa"] == pytest.approx(kappa_from_counts(joint, 10))
    low, high = stats.bootstrap_kappa(joint, 10)
    assert (row["kappa_low"], row["kappa_high"]) == pytest.approx((low, high))
    assert row["kappa_low"] <= row["kappa"] <= row["kappa_high"]


def test_paired_tests_per_pair_of_columns(metrics):
    gemma_wrong = sum(answer(rid(s), "gemma")["recommendation"] != answer(rid(s), "olmo")["recommendation"]
                      for s in range(1, 9))
    [pair] = metrics["paired"]
    assert pair["models"] == ["gemma", "olmo"] and pair["field"] == "recommendation" and pair["labelled"] == 8
    mcnemar = pair["mcnemar"]
    assert (mcnemar["a"], mcnemar["b"], mcnemar["n"]) == (0, gemma_wrong, gemma_wrong)
    assert mcnemar["p"] == pytest.approx(binomtest(0, gemma_wrong).pvalue if gemma_wrong else 1.0)
    assert mcnemar["verdict"].startswith("too few to tell") and mcnemar["small"]
    sign = pair["sign"]
    assert (sign["a"], sign["b"], sign["n"]) == (4, 2, 6)
    assert sign["p"] == pytest.approx(binomtest(4, 6).pvalue)
    assert sign["verdict"] == "too few to tell: 6 decided preferences"

"""People agree with people (#16 item 6, contract 6): each annotator's standing label read from the
log (undo included), percent / Cohen's κ / Krippendorff's α checked against hand values, the
domain's cohen_kappa and the `krippendorff` package, the API, and the grid's drill=annotators
listing exactly the records counted as disagreements."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from tests.test_drill import drilled
from tests.test_grid_counts import MODELS, grid_store, write_results  # noqa: F401 (a fixture)
from workbench.domain.annotator_agreement import field_agreement, krippendorff_alpha_nominal, pair_agreement
from workbench.domain.metrics import cohen_kappa
from workbench.store.annotations import annotate, undo
from workbench.store.annotator_labels import standing_labels
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"


# --- the formulas ---------------------------------------------------------------------------------

def test_alpha_by_hand():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the nominal example with
    # two coders and 10 units: alpha = 0.095 (coincidences a/a 4, a/b 4, b/b 10...). Here a small
    # case worked by hand: units (a,a) (a,b) (b,b) (b,b): o_aa 2, o_ab 1, o_ba 1, o_bb 4; n_a 3, n_b 5,
    # n 8; alpha = 1 - 7 * 2 / (64 - 9 - 25) = 1 - 14/30.
    assert krippendorff_alpha_nominal([("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]) == pytest.approx(1 - 14 / 30)
    assert krippendorff_alpha_nominal([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([("a", "a"), ("a", "a")]) == 1.0  # one label only: nothing to disagree on
    assert krippendorff_alpha_nominal([("a",), ()]) is None  # no unit with two labels


def _reliability(units: list[list[int | None]], coders: int) -> np.ndarray:
    rows = [[unit[c] if c < len(unit) and unit[c] is not None else np.nan for unit in units] for c in range(coders)]
    return np.array(rows, dtype=float)


@hypothesis_settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=1, max_size=4), min_size=1, max_size=40))
def test_alpha_matches_the_krippendorff_package(units):
    pairable = [u for u in units if sum(v is not None for v in u) >= 2]
    values = {v for u in pairable for v in u if v is not None}
    ours = krippendorff_alpha_nominal(units)
    if not pairable:
        assert ours is None
        return
    if len(values) < 2:
        assert ours == 1.0  # the package refuses a single value; we follow κ's convention
        return
    theirs = krippendorff.alpha(reliability_data=_reliability(units, 4), level_of_measurement="nominal")
    assert ours == pytest.approx(theirs, abs=1e-9)


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("xyz"), st.sampled_from("xyz")), min_size=1, max_size=60))
def test_two_annotators_kappa_is_the_domain_kappa(pairs):
    units = {(seq, 0): {"ann": a, "bob": b} for seq, (a, b) in enumerate(pairs)}
    figures = field_agreement(units)
    assert figures["kappa"] == cohen_kappa(pairs)
    assert figures["n"] == len(pairs)
    agreed = sum(a == b for a, b in pairs)
    assert figures["percent"]["k"] == agreed and figures["disagreements"] == len(pairs) - agreed
    assert pair_agreement(units, "ann", "bob")["kappa"] == figures["kappa"]
    if figures["kappa_low"] is not None:
        assert figures["kappa_low"] <= figures["kappa_high"]


def test_kappa_by_hand_with_an_interval():
    # 10 units: both "good" 4, both "wrong" 3, good/wrong 2, wrong/good 1. p_o = 0.7;
    # p_e = (6*5 + 4*5) / 100 = 0.5; kappa = 0.4.
    pairs = [("good", "good")] * 4 + [("wrong", "wrong")] * 3 + [("good", "wrong")] * 2 + [("wrong", "good")]
    figures = field_agreement({(i, 1): {"a": x, "b": y} for i, (x, y) in enumerate(pairs)})
    assert figures["kappa"] == pytest.approx(0.4)
    assert figures["kappa_low"] < 0.4 < figures["kappa_high"]
    assert figures["percent"]["value"] == pytest.approx(0.7) and figures["percent"]["small"]
    assert figures["alpha"] == pytest.approx(krippendorff.alpha(
        reliability_data=[[0 if x == "good" else 1 for x, _ in pairs], [0 if y == "good" else 1 for _, y in pairs]],
        level_of_measurement="nominal"))


def test_three_annotators_get_pairs_and_alpha():
    units = {(1, 0): {"a": "x", "b": "x", "c": "y"}, (2, 0): {"a": "y", "b": "y"}, (3, 0): {"b": "x", "c": "x"}}
    figures = field_agreement(units)
    assert figures["kappa"] is None and figures["annotators"] == ["a", "b", "c"]
    assert {tuple(p["annotators"]): p["n"] for p in figures["pairs"]} == {("a", "b"): 2, ("a", "c"): 1,
                                                                        ("b", "c"): 2}
    assert figures["disagreements"] == 1 and figures["percent"]["k"] == 2


# --- the log ----------------------------------------------------------------------------------------

def _set(store, dataset_id, seq, field, value, author, model="gemma"):
    record = f"cand-{seq:06d}"
    if field == "preference":
        return annotate(store, dataset_id=dataset_id, record_id=record, field=field, value=value, author=author)
    return annotate(store, dataset_id=dataset_id, record_id=record, field=field, value=value, model_id=model,
                    author=author)


@pytest.fixture
def people(grid_store, settings):  # noqa: F811
    """20 records × 3 models answered; ann, bob and cy judge, mark and prefer some of them."""
    store, dataset_id, runs, fields = grid_store
    for model in MODELS:
        write_results(store, dataset_id, runs[model], model, range(1, 21), fields)
    return store, dataset_id, runs


def test_each_annotators_standing_label_survives_undo(people):
    store, dataset_id, runs = people
    _set(store, dataset_id, 1, "judgement", "good", "ann")
    _set(store, dataset_id, 1, "judgement", "wrong", "bob")  # the state says wrong; ann still said good
    _set(store, dataset_id, 2, "judgement", "good", "ann")
    _set(store, dataset_id, 2, "judgement", "wrong", "ann")
    undo(store, dataset_id=dataset_id, author="ann")  # ann's "wrong" undone: her "good" stands again
    _set(store, dataset_id, 2, "judgement", "good", "bob")
    labels = standing_labels(store, dataset_id, runs.values())["judgement"]
    gemma = runs["gemma"]
    assert labels[(1, gemma)] == {"ann": "good", "bob": "wrong"}
    assert labels[(2, gemma)] == {"ann": "good", "bob": "good"}
    _set(store, dataset_id, 3, "judgement", "good", "ann")
    _set(store, dataset_id, 3, "judgement", "wrong", "bob")
    undo(store, dataset_id=dataset_id, author="bob")  # bob's only label on 3 is gone: one annotator left
    _set(store, dataset_id, 4, "judgement", "good", "ann")
    _set(store, dataset_id, 4, "judgement", "good", "bob")
    _set(store, dataset_id, 4, "judgement", None, "bob")  # cleared: no label from bob
    labels = standing_labels(store, dataset_id, runs.values())["judgement"]
    assert (3, gemma) not in labels and (4, gemma) not in labels
    _set(store, dataset_id, 5, "judgement", "wrong", "bob")
    _set(store, dataset_id, 5, "judgement", "good", "ann")
    undone = undo(store, dataset_id=dataset_id, author="ann")
    assert (5, gemma) not in standing_labels(store, dataset_id, runs.values())["judgement"]
    undo(store, dataset_id=dataset_id, author="ann", event_id=undone["event_id"])  # the undo undone: ann's back
    assert standing_labels(store, dataset_id, runs.values())["judgement"][(5, gemma)] == {"ann": "good", "bob": "wrong"}
    assert standing_labels(store, dataset_id, [runs["olmo"]])["judgement"] == {}  # another column's answers


def _client(store, settings):
    return TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL)


def _drilled(client, dataset_id, models, **params) -> tuple[dict, list[int]]:
    return drilled(client, dataset_id, models=models, drill="annotators", **params)


def test_the_api_and_the_drill_count_the_same_records(people, settings):
    store, dataset_id, runs = people
    for seq in range(1, 13):  # ann and bob judge gemma's 1-12, disagreeing on every third
        _set(store, dataset_id, seq, "judgement", "good", "ann")
        _set(store, dataset_id, seq, "judgement", "wrong" if seq % 3 == 0 else "good", "bob")
    _set(store, dataset_id, 3, "judgement", "good", "ann", model="olmo")  # a second answer of record 3
    _set(store, dataset_id, 3, "judgement", "wrong", "bob", model="olmo")
    for seq in (5, 6, 7):
        _set(store, dataset_id, seq, "golden", True, "ann", model="phi")
        _set(store, dataset_id, seq, "golden", seq != 7, "cy", model="phi")
    for seq, (a, b, c) in {10: ("gemma", "gemma", "olmo"), 11: ("tie", "tie", "tie"), 14: ("olmo", "phi", None)}.items():
        for who, value in (("ann", a), ("bob", b), ("cy", c)):
            if value is not None:
                _set(store, dataset_id, seq, "preference", value, who)
    with _client(store, settings) as client:
        models = ",".join(MODELS)
        answer = client.get("/api/agreement/annotators", params={"dataset_id": dataset_id, "models": models})
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert got["annotators"] == ["ann", "bob", "cy"]
        judged = got["fields"]["judgement"]
        assert judged["n"] == 13 and judged["disagreeing_units"] == 5 and judged["disagreements"] == 4
        assert judged["kappa"] is not None and judged["kappa_low"] is not None
        assert got["fields"]["golden"]["disagreements"] == 1 and got["fields"]["golden"]["annotators"] == ["ann", "cy"]
        preferred = got["fields"]["preference"]
        assert preferred["n"] == 3 and preferred["disagreements"] == 2 and preferred["pairs"]
        assert preferred["alpha"] is not None
        for field in ("judgement", "golden", "preference"):
            first, seqs = _drilled(client, dataset_id, models, drill_field=field)
            assert first["drill"]["count"] == got["fields"][field]["disagreements"] == len(seqs)
            assert first["drill"]["description"] == f"Annotators disagree on {field}"
        first, seqs = _drilled(client, dataset_id, models)
        assert first["drill"]["count"] == got["disagreements"] == len(set(seqs)) == len({3, 6, 9, 12, 7, 10, 14})
        assert seqs == sorted(seqs)
        only_olmo = client.get("/api/agreement/annotators", params={"dataset_id": dataset_id, "models": "olmo"}).json()
        assert only_olmo["fields"]["judgement"]["n"] == 1
        first, seqs = _drilled(client, dataset_id, "olmo", drill_field="judgement")
        assert seqs == [3]
        _set(store, dataset_id, 3, "judgement", "wrong", "ann", model="olmo")  # ann comes round: the drill follows
        first, seqs = _drilled(client, dataset_id, "olmo", drill_field="judgement")
        assert seqs == [] and first["drill"]["count"] == 0


def test_one_annotator_has_nothing_to_compare(people, settings):
    store, dataset_id, _ = people
    _set(store, dataset_id, 1, "judgement", "good", "ann")
    with _client(store, settings) as client:
        got = client.get("/api/agreement/annotators", params={"dataset_id": dataset_id}).json()
    assert got["annotators"] == [] and got["disagreements"] == 0
    assert all(f["n"] == 0 and f["percent"]["value"] is None and f["alpha"] is None for f in got["fields"].values())


@pytest.mark.parametrize("params", [
    {"drill": "annotators", "drill_field": "note"},
    {"drill": "annotators", "drill_field": "recommendation"},
    {"drill": "annotators", "drill_columns": "gemma,olmo"},
    {"drill": "annotators", "drill_agree": "1"},
    {"drill": "annotators", "drill_field": "x" * 5000},
])
def test_bad_annotator_drills_are_422(people, settings, params):
    store, dataset_id, _ = people
    with _client(store, settings) as client:
        response = client.get("/api/workbench", params={"dataset_id": dataset_id, **params})
    assert response.status_code == 422, response.text


@pytest.fixture
def people_client(people, settings):
    store, dataset_id, _ = people
    _set(store, dataset_id, 1, "judgement", "good", "ann")
    _set(store, dataset_id, 1, "judgement", "wrong", "bob")
    with _client(store, settings) as client:
        yield client, dataset_id


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dataset=st.one_of(st.just(None), st.text(max_size=30)), models=st.one_of(st.none(), st.text(max_size=60),
                                                                              st.sampled_from(["gemma", "run:1",
                                                                                               "run:99999999999999999999",
                                                                                               "gemma,,olmo", "run:0"])),
       field=st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["judgement", "golden", "preference", ""])))
def test_hostile_params_are_4xx_never_500(people_client, dataset, models, field):
    client, dataset_id = people_client
    params = {"dataset_id": dataset_id if dataset is None else dataset,
              **({"models": models} if models is not None else {})}
    response = client.get("/api/agreement/annotators", params=params)
    assert response.status_code < 500, response.text
    if dataset is None and models is None:
        assert response.status_code == 200
    drill = {"dataset_id": dataset_id, "drill": "annotators", **({"drill_field": field} if field is not None else {}),
             **({"models": models} if models is not None else {})}
    response = client.get("/api/workbench", params=drill)
    assert response.status_code in (200, 404, 422), response.text

"""The grid's drill-down from a Metrics figure (#15 item 12, contract 3): for every confusion cell
and every pair's agreement on a small labelled dataset, the drill's count and its rows are the
figure /api/metrics shows; bad drills are 422s, never 500s."""

from __future__ import annotations

from itertools import combinations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from testkit.scale import answer
from tests.test_grid_counts import MODELS, grid_store, write_results  # noqa: F401 (a fixture)
from workbench.domain.comparison import verdict_key
from workbench.store.annotations import annotate
from workbench.store.results import ResultRow, RunUpdate, write_batch
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"
COLUMNS = ",".join(MODELS)


@pytest.fixture
def labelled(grid_store, settings):  # noqa: F811
    """100 records × 3 models (some errors, two answers outside the options), 15 golden answers
    and 10 corrections as reference labels, and a correction on an error."""
    store, dataset_id, runs, fields = grid_store
    write_results(store, dataset_id, runs["gemma"], "gemma", range(1, 101), fields, errors={3, 40})
    write_results(store, dataset_id, runs["olmo"], "olmo", range(1, 91), fields, errors={40, 41})
    write_results(store, dataset_id, runs["phi"], "phi", [s for s in range(1, 101) if s != 5], fields, errors={7})
    odd = {**answer("cand-000005", "phi"), "recommendation": "Perhaps"}  # outside the options: "other"
    write_batch(store, [RunUpdate(runs["phi"], [ResultRow(5, "cand-000005", "ok", odd, None, None, None, 5.0, 1, 1, 1,
                                                          False, verdict_key(odd, fields), "Perhaps")], [],
                                  {"run_id": runs["phi"], "done": 0, "errors": 0, "tokens_in": 0, "tokens_out": 0,
                                   "cost": 0, "active_seconds": 0, "model_id": "phi", "dataset_id": dataset_id})])
    annotate(store, dataset_id=dataset_id, record_id="cand-000005", field="golden", value=True, model_id="gemma",
             author="tester")  # a label where phi answered "other"
    for seq in (s for s in range(10, 90, 6) if s != 40):  # 40 failed in gemma and olmo
        annotate(store, dataset_id=dataset_id, record_id=f"cand-{seq:06d}", field="golden", value=True,
                 model_id=MODELS[seq % 3], author="tester")
    for seq in range(11, 90, 9):
        fixed = {**answer(f"cand-{seq:06d}", "x"), "recommendation": "Maybe"}
        annotate(store, dataset_id=dataset_id, record_id=f"cand-{seq:06d}", field="correction", value=fixed,
                 model_id="olmo", author="tester")
    annotate(store, dataset_id=dataset_id, record_id="cand-000003", field="correction",
             value={**answer("cand-000003", "y"), "recommendation": "No"}, model_id="gemma", author="tester")
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as client:
        yield client, dataset_id


def drilled(client, dataset_id, **params) -> tuple[dict, list[int]]:
    """The first page's answer and every row's seq, page by page (small pages: the cursors count)."""
    seqs, cursor, first = [], None, None
    while True:
        response = client.get("/api/workbench", params={"dataset_id": dataset_id, "models": COLUMNS, "limit": 7,
                                                         **params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        first = first or page
        seqs += [row["seq"] for row in page["results"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return first, seqs


def test_every_confusion_cell_is_its_records(labelled):
    client, dataset_id = labelled
    figures = client.get("/api/metrics", params={"dataset_id": dataset_id, "models": COLUMNS}).json()
    checked = 0
    for column, confusion in figures["confusion"].items():
        labels = confusion["labels"]
        assert "other" in labels if column == "phi" else True
        for i, label in enumerate(labels):
            for j, answered in enumerate(labels):
                page, seqs = drilled(client, dataset_id, drill="confusion", drill_column=column,
                                     drill_field="recommendation", drill_label=label, drill_answer=answered)
                assert page["drill"]["count"] == confusion["matrix"][i][j] == len(seqs), (column, label, answered)
                assert seqs == sorted(set(seqs))
                assert page["counts"]["all"] == len(seqs)  # counts are counted within the drill
                checked += bool(seqs)
    assert checked >= 6
    page, _ = drilled(client, dataset_id, drill="confusion", drill_column="olmo", drill_field="recommendation",
                      drill_label="Maybe", drill_answer="Yes")
    assert page["drill"]["description"].endswith("answered Yes where the label is Maybe")


def test_every_pair_agreement_is_its_records(labelled):
    client, dataset_id = labelled
    figures = client.get("/api/metrics", params={"dataset_id": dataset_id, "models": COLUMNS}).json()
    for field, pairs in figures["agreement"].items():
        for pair in pairs:
            agree = round(pair["percent"] * pair["n"])
            for flag, expected in (("1", agree), ("0", pair["n"] - agree)):
                for columns in (pair["models"], pair["models"][::-1]):
                    page, seqs = drilled(client, dataset_id, drill="pair", drill_columns=",".join(columns),
                                         drill_field=field, drill_agree=flag)
                    assert page["drill"]["count"] == expected == len(seqs), (field, columns, flag)
            # The rows of a drill go through the grid's filters and sorts like any others.
            _, contested = drilled(client, dataset_id, drill="pair", drill_columns=",".join(pair["models"]),
                                   drill_field=field, drill_agree="0", sort="disagreement")
            assert len(contested) == pair["n"] - agree


def test_filters_and_refreshes_inside_a_drill(labelled):
    client, dataset_id = labelled
    drill = {"drill": "pair", "drill_columns": "gemma,olmo", "drill_field": "recommendation", "drill_agree": "0"}
    page, seqs = drilled(client, dataset_id, **drill)
    for name, count in page["counts"].items():
        _, shown = drilled(client, dataset_id, **drill, filter=name)
        assert len(shown) == count and set(shown) <= set(seqs), name
        _, contested = drilled(client, dataset_id, **drill, filter=name, sort="disagreement")
        assert sorted(contested) == shown, name
    outside = next(seq for seq in range(1, 101) if seq not in seqs)
    refreshed = client.get("/api/workbench", params={"dataset_id": dataset_id, "models": COLUMNS, **drill,
                                                     "seqs": f"{seqs[0]},{outside}"}).json()
    assert [row["seq"] for row in refreshed["results"]] == [seqs[0]]
    assert client.get("/api/workbench", params={"dataset_id": dataset_id, "models": COLUMNS}).json()["drill"] is None


def test_a_drill_follows_new_labels(labelled):
    """Cached per drill, yet a new golden answer moves its record into the cell at once."""
    client, dataset_id = labelled
    params = {"drill": "confusion", "drill_column": "gemma", "drill_field": "recommendation"}
    gemma = answer("cand-000002", "gemma")["recommendation"]
    before, seqs = drilled(client, dataset_id, **params, drill_label=gemma, drill_answer=gemma)
    assert 2 not in seqs
    client.post("/api/annotations", json={"dataset_id": dataset_id, "record_id": "cand-000002", "model_id": "gemma",
                                          "field": "golden", "value": True})
    after, seqs = drilled(client, dataset_id, **params, drill_label=gemma, drill_answer=gemma)
    assert 2 in seqs and after["drill"]["count"] == before["drill"]["count"] + 1


BAD_DRILLS = [
    {"drill": "nope"},
    {"drill": "confusion"},
    {"drill_column": "gemma"},
    {"drill": "confusion", "drill_column": "ghost", "drill_field": "recommendation", "drill_label": "Yes",
     "drill_answer": "No"},
    {"drill": "confusion", "drill_column": "gemma", "drill_field": "recommendation", "drill_label": "Yes",
     "drill_answer": "No", "models": "olmo,phi"},  # not shown
    {"drill": "confusion", "drill_column": "gemma", "drill_field": "reasoning", "drill_label": "Yes",
     "drill_answer": "No"},
    {"drill": "confusion", "drill_column": "gemma", "drill_field": "trajectory", "drill_label": "Good",
     "drill_answer": "Good"},  # no confusion matrix for it
    {"drill": "confusion", "drill_column": "gemma", "drill_field": "recommendation", "drill_label": "Perhaps",
     "drill_answer": "No"},
    {"drill": "confusion", "drill_column": "gemma", "drill_field": "recommendation", "drill_label": "Yes",
     "drill_answer": "No", "drill_agree": "1"},
    {"drill": "pair", "drill_columns": "gemma", "drill_field": "recommendation", "drill_agree": "1"},
    {"drill": "pair", "drill_columns": "gemma,gemma", "drill_field": "recommendation", "drill_agree": "1"},
    {"drill": "pair", "drill_columns": "gemma,olmo,phi", "drill_field": "recommendation", "drill_agree": "1"},
    {"drill": "pair", "drill_columns": "gemma,olmo", "drill_field": "recommendation", "drill_agree": "yes"},
    {"drill": "pair", "drill_columns": "gemma,olmo", "drill_field": "nope", "drill_agree": "0"},
    {"drill": "pair", "drill_columns": "gemma,olmo", "drill_field": "recommendation", "drill_agree": "x" * 2000},
]


@pytest.mark.parametrize("params", BAD_DRILLS)
def test_bad_drills_are_422(labelled, params):
    client, dataset_id = labelled
    response = client.get("/api/workbench", params={"dataset_id": dataset_id, "models": COLUMNS, **params})
    assert response.status_code == 422, response.text


drill_value = st.one_of(st.none(), st.sampled_from(["gemma", "olmo", "phi", "gemma,olmo", "olmo,phi", "phi,gemma",
                                                    "recommendation", "trajectory", "Yes", "No", "Maybe", "other",
                                                    "0", "1", "", ","]),
                        st.text(max_size=12))


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from([None, "confusion", "pair", "", "x"]),
       values=st.fixed_dictionaries({name: drill_value for name in ("drill_column", "drill_columns", "drill_field",
                                                                     "drill_label", "drill_answer", "drill_agree")}),
       models=st.sampled_from([COLUMNS, "gemma,olmo", "olmo"]))
def test_any_drill_is_an_answer_or_a_422(labelled, kind, values, models):
    """Whatever the params, 200 with a drill whose count is its rows, or a 422."""
    client, dataset_id = labelled
    params = {name: value for name, value in {"drill": kind, **values}.items() if value is not None}
    response = client.get("/api/workbench", params={"dataset_id": dataset_id, "models": models, "limit": 500,
                                                     **params})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200 and response.json()["drill"] is not None:
        page = response.json()
        assert page["drill"]["count"] == len(page["results"]) == page["counts"]["all"]


def test_pairs_and_cells_cover_the_metrics(labelled):
    """Across a pair, agree and disagree drills split the records both columns answered."""
    client, dataset_id = labelled
    for a, b in combinations(MODELS, 2):
        _, agree = drilled(client, dataset_id, drill="pair", drill_columns=f"{a},{b}", drill_field="pedigree",
                           drill_agree="1")
        _, differ = drilled(client, dataset_id, drill="pair", drill_columns=f"{a},{b}", drill_field="pedigree",
                            drill_agree="0")
        assert not set(agree) & set(differ)

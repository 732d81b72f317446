"""Review by expected value: the score (domain/review_value.py) and sort=value in /api/workbench."""

from __future__ import annotations

from hypothesis import given, strategies as st

from tests.test_bulk import bulk
from tests.test_web_curation import client, fake, grid, mark  # noqa: F401 (fixtures)
from tests.test_web_workbench import all_rows
from workbench.domain.judging import Suggestion
from workbench.domain.review_value import (MAX_VALUE, ValueFacts, decision_value, judge_state, value_reasons)
from workbench.grid import value as grid_value
from workbench.service import grid as grid_service

JUDGES = st.sampled_from(["inconsistent", "tie", "confident", None])


def suggestion(preferred, consistent, columns=("gemma", "olmo")):
    return Suggestion(columns, preferred, consistent, "judge", 9)


def test_judge_state_names_the_least_settled_pair():
    assert judge_state([]) is None
    assert judge_state([suggestion(None, None)]) is None
    assert judge_state([suggestion("gemma", True)]) == "confident"
    assert judge_state([suggestion("gemma", True), suggestion("tie", True)]) == "tie"
    assert judge_state([suggestion("tie", False), suggestion("tie", True)]) == "inconsistent"


def test_the_score_by_hand():
    assert decision_value(ValueFacts(0, reviewed=True)) == 0
    assert decision_value(ValueFacts(0, reviewed=False)) == 64
    assert decision_value(ValueFacts(2, reviewed=False)) == 64 + 16 + 2  # not judged
    assert decision_value(ValueFacts(2, reviewed=False, judge="inconsistent")) == 64 + 16 + 6
    assert decision_value(ValueFacts(1, reviewed=True, judge="confident")) == 8
    assert decision_value(ValueFacts(0, reviewed=False, judge="inconsistent")) == 64  # nothing to settle
    assert value_reasons(ValueFacts(1, False, "inconsistent"), ["recommendation"], 3) == [
        "3 columns disagree on recommendation", "judge flipped with order", "nobody reviewed it"]
    assert value_reasons(ValueFacts(0, True), [], 2) == ["the columns agree", "reviewed already"]
    assert "judge prefers gemma" in value_reasons(ValueFacts(1, True, "confident"), ["x"], 2, "gemma")


@given(fields=st.integers(-3, 40), reviewed=st.booleans(), judge=JUDGES)
def test_the_score_fits_a_byte_and_orders_as_documented(fields, reviewed, judge):
    value = decision_value(ValueFacts(fields, reviewed, judge))
    assert 0 <= value <= MAX_VALUE and value << 1 | 1 < 256
    # Nobody reviewed it beats anything reviewed; more fields in dispute beat any judge's word.
    assert decision_value(ValueFacts(fields, False, judge)) > decision_value(ValueFacts(40, True, "inconsistent"))
    if 0 < fields < 7:
        assert decision_value(ValueFacts(fields + 1, reviewed, "confident")) > value
        assert decision_value(ValueFacts(fields, reviewed, "inconsistent")) >= value


def ordered(api, **params):
    return all_rows(api, dataset_id="cands", models="gemma,olmo", sort="value", **params)


def check_order(rows):
    keys = [(-r["value"], r["seq"]) for r in rows]
    assert keys == sorted(keys)
    assert all(r["value_reasons"] for r in rows)


def test_sort_value_pages_every_record_once_in_value_order(client):  # noqa: F811
    rows = ordered(client)
    assert sorted(r["seq"] for r in rows) == list(range(1, 101))
    check_order(rows)
    first = rows[0]
    assert first["disagree_fields"] and "nobody reviewed it" in first["value_reasons"]
    assert f"2 columns disagree on {', '.join(first['disagree_fields'])}" == first["value_reasons"][0]
    assert grid(client, sort="value")["counts"] == grid(client)["counts"]  # the count is unchanged
    # Reviewing the most valuable records sends them down.
    mark(client, first["candidate_id"], "judgement", "good")
    client.post("/api/annotations", json={"dataset_id": "cands", "record_id": rows[1]["candidate_id"],
                                          "field": "reviewed", "value": True, "author": "ann"}).raise_for_status()
    again = ordered(client)
    check_order(again)
    moved = {r["seq"]: r for r in again}
    assert moved[first["seq"]]["value"] < first["value"] and "reviewed already" in moved[first["seq"]]["value_reasons"]
    assert moved[rows[1]["seq"]]["reviewed"] is True
    assert again[0]["seq"] not in (first["seq"], rows[1]["seq"])


def test_sort_value_with_filters_and_a_bad_cursor(client):  # noqa: F811
    mark(client, "cand-000004", "golden", True)
    for params in ({"filter": "differences"}, {"filter": "golden"}, {"filter": "needs_review"}, {"q": "Google"}):
        rows = ordered(client, **params)
        check_order(rows)
        plain = all_rows(client, dataset_id="cands", models="gemma,olmo", **params)
        assert sorted(r["seq"] for r in rows) == sorted(r["seq"] for r in plain), params
    refreshed = client.get("/api/workbench", params={"dataset_id": "cands", "models": "gemma,olmo",
                                                     "sort": "value", "seqs": "5,3,4"}).json()["results"]
    check_order(refreshed)
    assert sorted(r["seq"] for r in refreshed) == [3, 4, 5]
    for cursor in ("12", "a:b", "-1:3"):
        response = client.get("/api/workbench", params={"dataset_id": "cands", "sort": "value", "cursor": cursor})
        assert response.status_code == 422, cursor


def test_judge_facts_order_and_show_on_rows(client, monkeypatch):  # noqa: F811
    rows = all_rows(client, dataset_id="cands", models="gemma,olmo", filter="differences")
    flipped, sure = rows[-1]["seq"], rows[-2]["seq"]
    said = {flipped: [suggestion("tie", False)], sure: [suggestion("gemma", True)]}

    def fake_suggestions(store, dataset_id, run_ids, seqs=None):
        return {seq: found for seq, found in said.items() if seqs is None or seq in seqs}

    monkeypatch.setattr(grid_service, "judge_suggestions", fake_suggestions)
    monkeypatch.setattr(grid_value, "judge_version", lambda conn, query: ((1, len(said)),))
    top = ordered(client)
    check_order(top)
    by_seq = {r["seq"]: r for r in top}
    assert "judge flipped with order" in by_seq[flipped]["value_reasons"]
    assert by_seq[flipped]["judge"][0]["consistent"] is False
    assert "judge prefers gemma" in by_seq[sure]["value_reasons"]
    same_fields = [r for r in top if len(r["disagree_fields"]) == len(by_seq[flipped]["disagree_fields"])]
    assert same_fields[0]["seq"] == flipped  # the least settled first among its equals
    assert bulk(client, "reviewed", confirm=True, filter="differences")["changed"] == len(rows)
    check_order(ordered(client))


def test_sort_value_with_one_column_or_none(client):  # noqa: F811
    for models in ("gemma", ""):
        rows = all_rows(client, dataset_id="cands", models=models, sort="value")
        check_order(rows)
        assert len(rows) == 100 and all("the columns agree" in r["value_reasons"] for r in rows)

"""Bulk actions through the API: the set is the grid's, one group in the log, undone together."""

from __future__ import annotations

import threading

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.test_web_curation import client, fake, grid, mark  # noqa: F401 (fixtures)
from tests.test_web_workbench import all_rows


def bulk(api, action, confirm=False, **body):
    response = api.post("/api/annotations/bulk", json={"dataset_id": "cands", "models": "gemma,olmo",
                                                       "action": action, "confirm": confirm, "author": "ann",
                                                       **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_count_is_the_grids_count_for_the_same_query(client):  # noqa: F811
    mark(client, "cand-000003", "judgement", "wrong")
    for query in ({"filter": "all"}, {"filter": "differences"}, {"filter": "needs_review"},
                  {"filter": "all", "q": "Google"}, {"filter": "differences", "diff_field": "trajectory"},
                  {"filter": "all", "verdict": ["gemma:recommendation=Yes"]}):
        shown = all_rows(client, dataset_id="cands", models="gemma,olmo", **query)
        asked = bulk(client, "reviewed", **query)
        assert asked["count"] == len(shown) == grid(client, **query)["counts"][query["filter"]], query
        assert asked["marked"] == len(shown) and asked["skipped"] == 0 and "group_id" not in asked


def test_a_group_is_one_live_message(client, store):  # noqa: F811
    from workbench.service.live import latest_event_id, live_messages

    before = latest_event_id(store)
    done = bulk(client, "reviewed", confirm=True)
    _, messages, _ = live_messages(store, before)
    heard = [m for m in messages if m["type"] == "annotation"]
    assert len(heard) == 1 and heard[0]["group_id"] == done["group_id"] and heard[0]["count"] == 100
    response = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001",
                                                     "field": "reviewed", "value": "yes"})
    assert response.status_code == 422 and "reviewed must be true or false" in response.text


def test_confirm_false_writes_nothing(client):  # noqa: F811
    before = client.get("/api/annotations", params={"dataset_id": "cands"}).json()
    bulk(client, "golden", column="gemma")
    assert client.get("/api/annotations", params={"dataset_id": "cands"}).json() == before


def test_reviewed_marks_the_set_as_one_group_and_undo_restores_all(client):  # noqa: F811
    differing = grid(client)["counts"]["differences"]
    assert differing > 1
    done = bulk(client, "reviewed", confirm=True, filter="differences")
    assert done["count"] == done["changed"] == differing and done["group_id"] is not None
    log = client.get("/api/annotations", params={"dataset_id": "cands"}).json()
    grouped = [e for e in log if e["group_id"] == done["group_id"]]
    assert len(grouped) == differing and {e["field"] for e in grouped} == {"reviewed"}
    assert min(e["id"] for e in grouped) == done["group_id"]
    counts = grid(client)["counts"]
    assert counts["unreviewed"] == 100 - differing
    assert all(r["reviewed"] for r in all_rows(client, dataset_id="cands", models="gemma,olmo", filter="differences"))
    # Nothing differing still needs review, unless marked wrong or errored.
    assert counts["needs_review"] == grid(client, filter="needs_review")["counts"]["needs_review"]
    again = bulk(client, "reviewed", confirm=True, filter="differences")
    assert again["changed"] == 0 and again["group_id"] is None  # already so: no event
    undone = client.post("/api/annotations/undo", json={"dataset_id": "cands", "author": "ann"})
    assert undone.status_code == 200, undone.text
    assert undone.json()["count"] == differing and undone.json()["undoes_group"] == done["group_id"]
    assert grid(client)["counts"]["unreviewed"] == 100
    nothing = client.post("/api/annotations/undo", json={"dataset_id": "cands", "author": "ann"})
    assert nothing.status_code == 409


def test_golden_for_one_column_and_undo_keeps_a_later_change(client):  # noqa: F811
    rows = all_rows(client, dataset_id="cands", models="gemma,olmo")
    answered = sum(1 for r in rows if r["models"]["gemma"] and r["models"]["gemma"]["status"] == "ok")
    asked = bulk(client, "golden", column="gemma")
    assert asked["count"] == 100 and asked["marked"] == answered and asked["skipped"] == 100 - answered
    done = bulk(client, "golden", confirm=True, column="gemma")
    assert done["changed"] == answered
    assert grid(client)["counts"]["golden"] == answered
    mark(client, "cand-000001", "golden", False, author="bob")  # someone else changes one since
    undone = client.post("/api/annotations/undo", json={"dataset_id": "cands", "author": "ann"}).json()
    assert undone["changed_since"] == 1 and undone["count"] == answered - 1
    assert grid(client)["counts"]["golden"] == 0  # bob's own change stands (not golden)


def test_wrong_for_one_column_within_a_verdict_filter(client):  # noqa: F811
    query = {"verdict": ["olmo:recommendation=No"]}
    shown = all_rows(client, dataset_id="cands", models="gemma,olmo", **query)
    done = bulk(client, "wrong", confirm=True, column="olmo", **query)
    assert done["changed"] == len(shown)
    after = all_rows(client, dataset_id="cands", models="gemma,olmo", **query)
    assert all(r["models"]["olmo"]["judgement"] == "wrong" for r in after)
    assert all(r["models"]["gemma"]["judgement"] is None for r in after)


def test_a_column_is_required_and_must_be_shown(client):  # noqa: F811
    for body in ({"action": "golden"}, {"action": "golden", "column": "nobody"}, {"action": "wrong", "column": ""},
                 {"action": "reviewed", "column": "gemma"}, {"action": "delete"}):
        response = client.post("/api/annotations/bulk", json={"dataset_id": "cands", "models": "gemma,olmo", **body})
        assert response.status_code == 422, (body, response.text)
    response = client.post("/api/annotations/bulk", json={"dataset_id": "cands", "models": "gemma",
                                                          "action": "golden", "column": "olmo"})
    assert response.status_code == 422 and "olmo" in response.json()["detail"]


def test_annotating_during_a_bulk_keeps_both(client):  # noqa: F811
    notes = [f"note {i}" for i in range(20)]
    failures: list[str] = []

    def annotate_notes() -> None:
        for i, note in enumerate(notes):
            response = client.post("/api/annotations", json={
                "dataset_id": "cands", "record_id": f"cand-{i + 1:06d}", "field": "note", "value": note,
                "author": "bob"})
            if response.status_code != 201:
                failures.append(response.text)

    writer = threading.Thread(target=annotate_notes)
    writer.start()
    done = bulk(client, "reviewed", confirm=True)
    writer.join()
    assert not failures
    rows = all_rows(client, dataset_id="cands", models="gemma,olmo")
    assert done["changed"] == 100 and all(r["reviewed"] for r in rows)
    assert [r["note"] for r in rows[:20]] == notes


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.dictionaries(
    st.sampled_from(["dataset_id", "action", "column", "confirm", "models", "filter", "q", "verdict", "drill",
                     "drill_column", "diff_field", "sort", "author", "junk"]),
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30), st.lists(st.text(max_size=10)),
              st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))))
def test_hostile_bodies_get_a_clear_4xx(client, body):  # noqa: F811
    response = client.post("/api/annotations/bulk", json={"confirm": False, **body})
    assert 400 <= response.status_code < 500 or response.status_code == 200, response.text


def test_undo_walks_back_through_singles_and_groups(client):  # noqa: F811
    mark(client, "cand-000005", "judgement", "good", author="ann")
    done = bulk(client, "golden", confirm=True, column="olmo", filter="differences")
    mark(client, "cand-000006", "note", "after", model="", author="ann")
    undo = lambda: client.post("/api/annotations/undo", json={"dataset_id": "cands", "author": "ann"})  # noqa: E731
    first = undo().json()
    assert first["field"] == "note" and "undoes_group" not in first
    second = undo().json()
    assert second["undoes_group"] == done["group_id"] and second["count"] == done["changed"]
    assert grid(client)["counts"]["golden"] == 0
    third = undo().json()
    assert third["field"] == "judgement" and third["record_id"] == "cand-000005"
    by_id = client.post("/api/annotations/undo", json={"dataset_id": "cands", "author": "ann",
                                                       "event_id": done["group_id"]})
    assert by_id.status_code == 409 and "undone already" in by_id.json()["detail"]

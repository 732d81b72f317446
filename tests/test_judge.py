"""The judge's rules (both orders combined, the rubric, its task), its agreement with people on a
hand-built case, the API (hostile bodies get a 4xx) and `workbench judge`."""

from __future__ import annotations

import asyncio
import time

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from tests.test_judge_runner import add_model, answered, judging, server  # noqa: F401 - fixtures
from workbench.cli import main
from workbench.domain.errors import InvalidInput
from workbench.domain.judging import (DEFAULT_RUBRIC, MAX_RUBRIC, agreement_with_people, check_rubric, combine,
                                      judge_input, judge_task, people_label)
from workbench.domain.metrics import cohen_kappa
from workbench.domain.stats import bootstrap_kappa, wilson
from workbench.runner.manager import RunManager
from workbench.service import judges
from workbench.service.curation import annotate
from workbench.store.datasets import iter_records
from workbench.store.runs import get_run
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"


# ---- the rules --------------------------------------------------------------------------------

@pytest.mark.parametrize("ab, ba, expected", [
    ("first", "second", ("a", True)), ("second", "first", ("b", True)), ("tie", "tie", ("tie", True)),
    ("first", "first", ("tie", False)), ("second", "second", ("tie", False)), ("first", "tie", ("tie", False)),
    ("tie", "second", ("tie", False)), (None, "first", (None, None)), ("first", None, (None, None)),
    ("junk", "first", (None, None)),
])
def test_both_orders_combine_into_one_suggestion(ab, ba, expected):
    assert combine(ab, ba) == expected


def test_a_persons_preference_as_the_judges_labels():
    assert [people_label(p, "run:1", "run:2") for p in ("run:1", "run:2", "tie", "all_bad", "run:3", None)] \
        == ["a", "b", "tie", None, None, None]


def test_the_rubric_is_checked_and_shown_literally():
    assert check_rubric(None) == check_rubric("   ") == DEFAULT_RUBRIC
    with pytest.raises(InvalidInput, match="at most"):
        check_rubric("x" * (MAX_RUBRIC + 1))
    with pytest.raises(InvalidInput, match="control characters"):
        check_rubric("bad \x00 rubric")
    task = judge_task("candidate-screening", "Prefer {{ config }} and {% raw %} {# x #}")
    system, user = task.render(judge_input({"name": "Ann", "skills": ["go"]}, {"r": "Yes"}, {"r": "No"}))
    assert system["content"].startswith("Prefer {{ config }} and {% raw %} {# x #}")
    assert '"better"' in system["content"]  # the schema is shown
    assert "name: Ann" in user["content"] and 'skills: ["go"]' in user["content"]
    assert user["content"].index("r: Yes") < user["content"].index("Answer 2:") < user["content"].index("r: No")
    assert task.name == "_judge-candidate-screening" and task.primary_verdict == "better"
    assert judge_task("candidate-screening", "other").content_hash != task.content_hash  # a new version


def test_agreement_with_people_on_a_hand_built_table():
    pairs = [("a", "a")] * 6 + [("b", "b")] * 4 + [("a", "b")] * 2 + [("tie", "a")] + [("b", "tie")]
    figures = agreement_with_people(pairs, consistent=12, judged=16)
    assert figures["n"] == 14 and figures["small"] is True
    assert figures["percent"]["k"] == 10 and figures["percent"]["value"] == pytest.approx(10 / 14)
    assert (figures["percent"]["low"], figures["percent"]["high"]) == pytest.approx(wilson(10, 14))
    assert figures["kappa"] == pytest.approx(cohen_kappa(pairs))
    # By hand: p_o = 10/14; marginals judge a 8, b 5, tie 1 and people a 7, b 6, tie 1: p_e = 87/196.
    assert figures["kappa"] == pytest.approx(53 / 109)
    from statsmodels.stats.inter_rater import cohens_kappa

    table = [[sum(1 for pair in pairs if pair == (j, p)) for p in ("a", "b", "tie")] for j in ("a", "b", "tie")]
    assert figures["kappa"] == pytest.approx(cohens_kappa(table).kappa)


def test_agreement_intervals_are_seeded():
    pairs = [("a", "a")] * 30 + [("b", "b")] * 20 + [("a", "b")] * 8
    first, again = agreement_with_people(pairs, 50, 58), agreement_with_people(pairs, 50, 58)
    assert (first["kappa_low"], first["kappa_high"]) == (again["kappa_low"], again["kappa_high"])
    from collections import Counter
    assert (first["kappa_low"], first["kappa_high"]) == bootstrap_kappa(Counter(pairs), len(pairs))
    assert first["kappa_low"] < first["kappa"] < first["kappa_high"]
    assert first["consistency"]["value"] == pytest.approx(50 / 58) and not first["small"]
    empty = agreement_with_people([], 0, 0)
    assert empty["n"] == 0 and empty["kappa"] is None and empty["percent"]["value"] is None


# ---- against people, end to end ---------------------------------------------------------------

def finished_judge(store, dataset):
    pair = judges.start_judge(store, dataset, ["alpha", "beta"], "judge")
    asyncio.run(RunManager(store).execute([r.id for r in judges.judge_runs(pair)]))
    return judges.get_judge(store, pair.id)


def test_the_judge_against_peoples_preferences(store, answered, judging):  # noqa: F811
    pair = finished_judge(store, answered)
    a, b = (f"run:{run}" for run in pair.columns)
    found = judges.suggestions(store, answered, {a: pair.columns[0], b: pair.columns[1]})
    ids = {r.seq: r.record_id for r in iter_records(store, answered)}
    judged = sorted(found)
    label = {a: "a", b: "b", "tie": "tie"}
    # People agree on the first three, choose the other column on the next two, say tie on one;
    # a record the judge did not look at, and an "all bad", do not count.
    expected = []
    for i, seq in enumerate(judged[:6]):
        judge_says = label[found[seq][0].preferred]
        person = judge_says if i < 3 else ({"a": "b", "b": "a", "tie": "a"}[judge_says] if i < 5 else "tie")
        value = {"a": "alpha", "b": "beta", "tie": "tie"}[person]
        annotate(store, dataset_id=answered, record_id=ids[seq], field="preference", value=value, author="ann")
        expected.append((judge_says, person))
    unjudged = next(seq for seq in ids if seq not in found)
    annotate(store, dataset_id=answered, record_id=ids[unjudged], field="preference", value="alpha", author="ann")
    if len(judged) > 6:
        annotate(store, dataset_id=answered, record_id=ids[judged[6]], field="preference", value="all_bad")
    figures = judges.judge_agreement(store, pair.id)
    assert figures["n"] == 6 and figures["small"]
    assert figures["percent"]["k"] == sum(1 for j, p in expected if j == p)
    assert figures["kappa"] == pytest.approx(cohen_kappa(expected), abs=1e-12) or figures["kappa"] is None
    assert figures["consistency"] == {**figures["consistency"], "k": len(found), "n": len(found), "value": 1.0}
    assert figures["judge"]["id"] == pair.id


# ---- the API ----------------------------------------------------------------------------------

@pytest.fixture
def client(settings, store):
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        yield c


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_start_a_judge_list_it_and_see_its_agreement(client, store, answered, judging):  # noqa: F811
    created = client.post("/api/judges", json={"dataset_id": answered, "models": ["alpha", "beta"],
                                               "judge": "judge", "rubric": "Prefer the shorter reasoning."})
    assert created.status_code == 201, created.text
    judge = created.json()
    assert len(judge["runs"]) == 2 and judge["id"] == judge["runs"][0] and judge["rubric"].startswith("Prefer")
    finished = wait_for(lambda: next((j for j in client.get("/api/judges", params={"dataset_id": answered}).json()
                                      if j["id"] == judge["id"] and j["status"] == "completed"), None))
    assert finished["done"] == finished["total"] > 0
    assert client.get(f"/api/judges/{judge['id']}").json()["status"] == "completed"
    agreement = client.get(f"/api/judges/{judge['id']}/agreement").json()
    assert agreement["n"] == 0 and agreement["consistency"]["n"] == finished["total"] // 2
    assert all(get_run(store, run_id).kind == "judge" for run_id in judge["runs"])
    runs_panel = {r["id"] for r in client.get("/api/runs", params={"dataset_id": answered}).json()}
    columns = {c["run_id"] for c in client.get("/api/columns", params={"dataset_id": answered}).json()}
    assert not set(judge["runs"]) & (runs_panel | columns)
    grid = client.get("/api/workbench", params={"dataset_id": answered, "models": f"alpha,run:{judge['id']}"})
    assert grid.status_code == 422 and "judge" in grid.text
    assert not any(t["name"].startswith("_judge") for t in client.get("/api/tasks").json())
    assert client.get("/api/judges/999999/agreement").status_code == 404
    assert client.get(f"/api/judges/{judge['runs'][1]}").status_code == 404  # the second order's run is no judge
    assert client.get(f"/api/judges/{answered}").status_code == 422


@pytest.mark.parametrize("body, status", [
    ({"dataset_id": "cands", "models": ["alpha"], "judge": "judge"}, 422),
    ({"dataset_id": "cands", "models": ["alpha", "alpha"], "judge": "judge"}, 422),
    ({"dataset_id": "cands", "models": ["alpha", "nobody"], "judge": "judge"}, 422),
    ({"dataset_id": "cands", "models": ["alpha", "beta"], "judge": "nobody"}, 422),
    ({"dataset_id": "cands", "models": ["alpha", "beta"], "judge": "judge", "rubric": "x\x07"}, 422),
    ({"dataset_id": "cands", "models": ["alpha", "beta"], "judge": "judge", "rubric": "x" * 20_001}, 422),
    ({"dataset_id": "cands", "models": ["alpha", "run:999"], "judge": "judge"}, 404),
    ({"dataset_id": "nope", "models": ["alpha", "beta"], "judge": "judge"}, 404),
    ({"dataset_id": "cands", "models": ["alpha", "bad id!"], "judge": "judge"}, 422),
])
def test_a_judge_that_cant_be_is_refused(client, answered, body, status):  # noqa: F811
    response = client.post("/api/judges", json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.fixed_dictionaries({}, optional={"dataset_id": JSON, "models": JSON | st.lists(st.text(max_size=12),
                                                                                              max_size=3),
                                              "judge": JSON, "rubric": JSON}) | JSON)
def test_hostile_bodies_get_a_4xx(client, body):
    response = client.post("/api/judges", json=body)
    assert 400 <= response.status_code < 500, (body, response.text)


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=30))
def test_hostile_parameters_get_a_4xx(client, value):
    assert 400 <= client.get("/api/judges", params={"dataset_id": value}).status_code < 500
    from urllib.parse import quote

    assert client.get(f"/api/judges/{quote(value, safe='')}/agreement").status_code in (404, 422)


# ---- the CLI ----------------------------------------------------------------------------------

def test_workbench_judge_runs_to_the_end_and_continues(store, settings, answered, judging, tmp_path):  # noqa: F811
    rubric = tmp_path / "rubric.txt"
    rubric.write_text("Prefer the answer that cites the record.", encoding="utf-8")
    args = ["judge", "--dataset", answered, "--models", "alpha,beta", "--judge", "judge",
            "--rubric", f"@{rubric}", "--data-dir", str(settings.data_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "where they disagree" in result.output and "completed" in result.output
    [pair] = judges.list_judges(store, answered)
    assert pair.rubric == "Prefer the answer that cites the record."
    assert {get_run(store, r.id).status for r in judges.judge_runs(pair)} == {"completed"}
    bad = CliRunner().invoke(main, ["judge", "--dataset", answered, "--models", "alpha", "--judge", "judge",
                                    "--data-dir", str(settings.data_dir)])
    assert bad.exit_code != 0 and "exactly two columns" in bad.output

"""Tasks through the API: starting points, preview, try (against the fake OpenAI server), versions,
and runs refused or allowed for a task whose fields the dataset lacks. Both stores."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
REVIEWS = [{"id": f"rev-{i}", "product": "Kettle", "text": text, "stars": stars} for i, (text, stars) in enumerate([
    ("Boils fast and looks great. Love it.", 5), ("Broke after a week.", 1), ("It is a kettle.", 3),
    ("Loud, but quick.", 4), ("Leaks from the lid.", 2), ("Fine.", 3)])]


@pytest.fixture
def client(settings, store):
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url="http://localhost") as c:
        body = "".join(json.dumps(r) + "\n" for r in REVIEWS).encode()
        assert c.post("/api/datasets", files={"file": ("reviews.jsonl", body)}).status_code == 201
        yield c


@pytest.fixture
def fake(client):
    with FakeOpenAIServer(FaultConfig(latency_ms=1)) as server:
        created = client.post("/api/models", json={"id": "fake", "provider": "openai", "base_url": server.base_url,
                                                   "model": "fake-a"})
        assert created.status_code == 201, created.text
        yield server


def sentiment(client) -> dict:
    [starter] = [s for s in client.get("/api/task-starters").json() if s["id"] == "sentiment"]
    return starter["task"]


def test_starting_points(client):
    starters = client.get("/api/task-starters").json()
    assert [s["id"] for s in starters] == ["classification", "sentiment", "extraction", "rating",
                                           "candidate-screening"]
    assert all(s["title"] and s["task"]["output_schema"]["type"] == "object" for s in starters)


def test_preview_renders_the_record_and_shows_problems_inline(client):
    draft = sentiment(client)
    shown = client.post("/api/tasks/preview", json={"task": draft, "dataset_id": "reviews"})
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["record_id"] == "rev-0" and body["problems"] == [] and body["missing_fields"] == []
    assert body["dataset_fields"] == ["id", "product", "text", "stars"]
    assert body["messages"][-1] == {"role": "user", "content": "Product: Kettle\nText: Boils fast and looks great. "
                                                               "Love it."}
    assert "name: sentiment" in body["yaml"]
    other = client.post("/api/tasks/preview", json={"task": draft | {"user": "{{ text }} ({{ stars }}★) {{ title }}"},
                                                   "dataset_id": "reviews", "record_id": "rev-1"}).json()
    assert other["messages"][-1]["content"] == "Broke after a week. (1★)" and other["missing_fields"] == ["title"]
    broken = client.post("/api/tasks/preview", json={"task": draft | {"user": "{% if %}"},
                                                    "dataset_id": "reviews"}).json()
    assert broken["messages"] == [] and broken["problems"][0]["where"] == "user template"
    assert broken["problems"][0]["line"] == 1


@pytest.mark.parametrize("body, status", [
    ({"task": "not a task", "dataset_id": "reviews"}, 422), ({"task": [1], "dataset_id": "reviews"}, 422),
    ({"task": {}, "dataset_id": "nope"}, 404), ({"task": {}, "dataset_id": "reviews", "record_id": "nope"}, 404),
    ({"dataset_id": "reviews"}, 422), ({"task": {}, "dataset_id": "x" * 500}, 422),
])
def test_preview_refuses_junk_with_a_4xx(client, body, status):
    assert client.post("/api/tasks/preview", json=body).status_code == status


def test_try_asks_the_model_on_three_records_and_writes_nothing(client, fake):
    draft = sentiment(client)
    tried = client.post("/api/tasks/try", json={"task": draft, "dataset_id": "reviews", "model_id": "fake",
                                                "count": 3})
    assert tried.status_code == 200, tried.text
    answers = tried.json()
    assert [a["record_id"] for a in answers] == ["rev-0", "rev-1", "rev-2"]
    assert all(a["error"] is None and a["output"]["sentiment"] in ("positive", "neutral", "negative", "mixed")
               for a in answers), answers
    assert all(a["latency_ms"] is not None and a["raw_text"] for a in answers)
    assert fake.total == 3
    assert client.get("/api/runs").json() == []
    picked = client.post("/api/tasks/try", json={"task": draft, "dataset_id": "reviews", "model_id": "fake",
                                                 "record_ids": ["rev-4"]}).json()
    assert [a["record_id"] for a in picked] == ["rev-4"]


def test_try_shows_errors_per_record(client, settings):
    with FakeOpenAIServer(FaultConfig(down=True)) as server:
        client.post("/api/models", json={"id": "down", "provider": "openai", "base_url": server.base_url,
                                         "model": "m"})
        draft = sentiment(client)
        [answer] = client.post("/api/tasks/try", json={"task": draft, "dataset_id": "reviews", "model_id": "down",
                                                       "count": 1, "timeout_s": 5}).json()
    assert answer["output"] is None and answer["error"]["kind"] and answer["error"]["message"]
    bad_template = client.post("/api/tasks/try", json={"task": draft | {"user": "{{ 1 / 0 }}"},
                                                       "dataset_id": "reviews", "model_id": "down", "count": 1})
    assert bad_template.json()[0]["error"]["kind"] == "template"


@pytest.mark.parametrize("change, status", [
    ({"count": 6}, 422), ({"count": 0}, 422), ({"record_ids": ["a"] * 6}, 422), ({"model_id": "nope"}, 404),
    ({"dataset_id": "nope"}, 404), ({"task": {"name": "x"}}, 422), ({"task": "x"}, 422),
    ({"record_ids": ["missing"]}, 404), ({"timeout_s": 0}, 422),
])
def test_try_refuses_junk_with_a_4xx(client, fake, change, status):
    body = {"task": sentiment(client), "dataset_id": "reviews", "model_id": "fake", "count": 1} | change
    assert client.post("/api/tasks/try", json=body).status_code == status


def test_saving_makes_versions_listed_with_what_changed(client):
    draft = sentiment(client) | {"name": "my-sentiment"}
    assert client.post("/api/tasks", json=draft).json()["version"] == 1
    assert client.post("/api/tasks", json=draft).json()["version"] == 1  # unchanged: the same version
    changed = draft | {"user": draft["user"] + "\nStars: {{ stars }}"}
    changed["output_schema"] = json.loads(json.dumps(draft["output_schema"]))
    changed["output_schema"]["properties"]["topic"] = {"type": "string", "maxLength": 50}
    assert client.post("/api/tasks", json=changed).json()["version"] == 2
    versions = client.get("/api/tasks/my-sentiment/versions").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["changes"] == ["user template", "output schema: added field 'topic'"]
    assert versions[1]["changes"] == ["first version"] and versions[0]["created_at"]
    assert "+  Stars: {{ stars }}" in versions[0]["diff"]
    assert client.get("/api/tasks/nope/versions").status_code == 404


def test_a_run_of_a_task_whose_fields_the_dataset_lacks_is_refused_unless_allowed(client, fake):
    refused = client.post("/api/runs", json={"dataset_id": "reviews", "model_ids": ["fake"]})
    assert refused.status_code == 422
    body = refused.json()
    assert body["missing_fields"][:3] == ["name", "full_name", "title"] and "work_history" in body["detail"]
    assert client.get("/api/runs").json() == []
    allowed = client.post("/api/runs", json={"dataset_id": "reviews", "model_ids": ["fake"],
                                             "allow_missing_fields": True})
    assert allowed.status_code == 201 and allowed.json()[0]["task_name"] == "candidate-screening"


def test_a_run_with_a_task_and_version(client, fake):
    draft = sentiment(client) | {"name": "senti"}
    client.post("/api/tasks", json=draft)
    client.post("/api/tasks", json=draft | {"user": "{{ text }}"})
    [run] = client.post("/api/runs", json={"dataset_id": "reviews", "model_ids": ["fake"], "task": "senti",
                                           "task_version": 1}).json()
    assert (run["task_name"], run["task_version"]) == ("senti", 1)
    [latest] = client.post("/api/runs", json={"dataset_id": "reviews", "model_ids": ["fake"], "task": "senti"}).json()
    assert latest["task_version"] == 2
    assert client.post("/api/runs", json={"dataset_id": "reviews", "model_ids": ["fake"], "task": "senti",
                                          "task_version": 9}).status_code == 404
    assert client.post("/api/runs", json={"dataset_id": "reviews", "model_ids": ["fake"], "task": "senti",
                                          "task_version": 0}).status_code == 422


@pytest.mark.parametrize("user, limit", [("{% for i in range(99999) %}{% endfor %}", "range()"),
                                         ('{{ "x" * 10**10 }}', "'*'")])
def test_a_hostile_template_is_a_problem_in_preview_and_try_and_an_error_per_record_in_a_run(client, user, limit):
    from tests.test_web_workbench import wait_for_runs

    draft = sentiment(client) | {"name": "hostile", "user": user}
    shown = client.post("/api/tasks/preview", json={"task": draft, "dataset_id": "reviews"}).json()
    assert shown["messages"] == [] and limit in shown["problems"][0]["message"]
    client.post("/api/models", json={"id": "rules", "provider": "baseline"})
    [tried] = client.post("/api/tasks/try", json={"task": draft, "dataset_id": "reviews", "model_id": "rules",
                                                  "count": 1}).json()
    assert tried["error"]["kind"] == "template" and limit in tried["error"]["message"]
    assert client.post("/api/tasks", json=draft).status_code == 201
    [run] = client.post("/api/runs", json={"dataset_id": "reviews", "model_ids": ["rules"], "task": "hostile",
                                           "allow_missing_fields": True}).json()
    # The app's own runner takes the run (a second runner here would race it for the lease).
    [finished] = [r for r in wait_for_runs(client) if r["id"] == run["id"]]
    assert (finished["status"], finished["done"], finished["errors"]) == ("completed", 6, 6)


def test_try_says_an_answer_cut_at_max_tokens_is_truncated(client):
    with FakeOpenAIServer(FaultConfig(length_rate=1.0)) as server:
        client.post("/api/models", json={"id": "short", "provider": "openai", "base_url": server.base_url,
                                         "model": "m"})
        [answer] = client.post("/api/tasks/try", json={"task": sentiment(client), "dataset_id": "reviews",
                                                       "model_id": "short", "count": 1}).json()
    assert answer["finish_reason"] == "length" and answer["error"]["kind"] == "truncated", answer
    assert answer["raw_text"]

"""The API through an in-process client."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from testkit.fake_openai import FakeOpenAIServer
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"  # TestClient's own host name, "testserver", is not on the allow-list


@pytest.fixture
def client(settings, store):
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        yield c


def test_health_docs_and_page(client):
    assert client.get("/api/health").json()["ok"]
    assert client.get("/openapi.json").json()["info"]["title"] == "Dataset Workbench"
    assert client.get("/docs").status_code == 200
    assert "Dataset Workbench" in client.get("/").text


def test_upload_list_records_delete(client):
    body = b"".join(json.dumps({"id": f"r{i}", "name": f"N{i}"}).encode() + b"\n" for i in range(5))
    created = client.post("/api/datasets", files={"file": ("people.jsonl", body)}, data={"name": "People"})
    assert created.status_code == 201, created.text
    assert created.json()["record_count"] == 5 and created.json()["source_name"] == "people.jsonl"
    assert [d["id"] for d in client.get("/api/datasets").json()] == ["people"]
    page = client.get("/api/datasets/people/records", params={"limit": 2}).json()
    assert [r["record_id"] for r in page["records"]] == ["r0", "r1"] and page["next_after"] == 2
    assert client.delete("/api/datasets/people").status_code == 204
    assert client.get("/api/datasets/people").status_code == 404


def test_bad_upload_lists_problems_and_stores_nothing(client, store):
    response = client.post("/api/datasets", files={"file": ("bad.jsonl", b'{"id": 1}\n{nope\n')})
    assert response.status_code == 422
    problems = response.json()["problems"]
    assert len(problems) == 1 and problems[0].startswith("line 2: malformed JSON")
    assert client.get("/api/datasets").json() == []
    assert not any((store.settings.data_dir / "uploads").iterdir())  # temp file removed


def test_upload_filename_cannot_escape_the_data_dir(client, store, tmp_path):
    body = json.dumps({"id": 1, "name": "x"}).encode()
    response = client.post("/api/datasets", files={"file": ("../../../../tmp/evil.jsonl", body)})
    assert response.status_code == 201 and response.json()["name"] == "evil"
    assert not (tmp_path / "evil.jsonl").exists()
    assert client.post("/api/datasets", files={"file": ("x.exe", b"MZ")}).status_code == 422


def test_models_crud_never_returns_a_key(client, monkeypatch):
    monkeypatch.setenv("SECRET_KEY_VAR", "sk-very-secret-123")
    with FakeOpenAIServer() as server:
        created = client.post("/api/models", json={
            "id": "fake", "provider": "openai", "base_url": server.base_url, "model": "fake-a",
            "api_key_env": "SECRET_KEY_VAR"})
        assert created.status_code == 201, created.text
        tested = client.post("/api/models/fake/test")
        assert tested.status_code == 200 and tested.json()["ok"], tested.text
        assert tested.json()["structured_output"] == "json_schema"
    everything = client.get("/api/models").text + created.text + tested.text
    assert "sk-very-secret-123" not in everything and "SECRET_KEY_VAR" in everything
    bad = client.post("/api/models", json={"id": "x", "provider": "openai"})
    assert bad.status_code == 422 and "base URL" in bad.json()["detail"]
    assert client.delete("/api/models/fake").status_code == 204
    assert client.get("/api/models/fake").status_code == 404


def test_tasks_api_versions(client):
    task = client.get("/api/tasks/candidate-screening").json()
    assert task["version"] == 1 and task["primary_verdict"] == "recommendation"
    task["user"] = "Candidate: {{ name }}"
    saved = client.post("/api/tasks", json=task)
    assert saved.status_code == 201 and saved.json()["version"] == 2
    assert client.get("/api/tasks/candidate-screening", params={"version": 1}).json()["user"] != task["user"]


def test_token_is_required_when_set(tmp_path, monkeypatch):
    from workbench.config import Settings

    monkeypatch.setenv("WORKBENCH_TOKEN", "t0ken")
    settings = Settings.load(data_dir=tmp_path / "tok")
    with TestClient(create_app(settings), headers=CLIENT, base_url=LOCAL) as c:
        assert c.get("/api/datasets").status_code == 401
        assert c.get("/api/datasets", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_simultaneous_run_starts_answer_the_same_run(settings, store):
    """Two "Run" clicks at once (POST /api/runs) continue one run, both answered with it."""
    import threading

    from workbench.domain.models import ModelConfig
    from workbench.store.datasets import import_dataset
    from workbench.store.models import save_model
    from workbench.service.workspace import sample_path

    dataset = import_dataset(store, sample_path(), name="cands")
    save_model(store, ModelConfig(id="baseline", name="Baseline", provider="baseline"))
    body = {"dataset_id": dataset.id, "model_ids": ["baseline"]}
    with TestClient(create_app(settings, store=store, execute_runs=False), headers=CLIENT, base_url=LOCAL) as c:
        for _ in range(5):
            start, answers = threading.Barrier(4), []

            def click():
                start.wait(timeout=60)
                answers.append(c.post("/api/runs", json=body))

            threads = [threading.Thread(target=click) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
            assert len({a.json()[0]["id"] for a in answers}) == 1
            assert c.post(f"/api/runs/{answers[0].json()[0]['id']}/cancel").status_code == 200
        assert len(c.get("/api/runs").json()) == 5


def test_a_models_max_response_size_is_kept(client):
    """max_response_bytes survives a save and a read (before: every model read back 4 MiB)."""
    from workbench.domain.models import DEFAULT_MAX_RESPONSE_BYTES

    model = {"id": "capped", "provider": "openai", "base_url": "http://127.0.0.1:8/v1", "model": "m"}
    assert client.post("/api/models", json={**model, "max_response_bytes": 65536}).status_code == 201
    assert client.get("/api/models/capped").json()["max_response_bytes"] == 65536
    assert client.put("/api/models/capped", json={**model, "max_response_bytes": 2_000_000}).status_code == 200
    assert client.get("/api/models/capped").json()["max_response_bytes"] == 2_000_000
    assert [m["max_response_bytes"] for m in client.get("/api/models").json() if m["id"] == "capped"] == [2_000_000]
    assert client.put("/api/models/capped", json=model).status_code == 200  # not given: the default
    assert client.get("/api/models/capped").json()["max_response_bytes"] == DEFAULT_MAX_RESPONSE_BYTES
    refused = client.put("/api/models/capped", json={**model, "max_response_bytes": 10})
    assert refused.status_code == 422
    assert client.get("/api/models/capped").json()["max_response_bytes"] == DEFAULT_MAX_RESPONSE_BYTES


def test_an_edit_racing_a_delete_never_brings_the_model_back(client, store):
    """PUT is an update of what exists: after a DELETE it is a 404, and the model stays gone
    (before: PUT checked, then upserted, so an edit landing after a delete re-created the model)."""
    from workbench.store.models import model_exists, update_model
    from workbench.domain.models import build_model

    body = {"id": "m1", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m1"}
    assert client.post("/api/models", json=body).status_code == 201
    assert client.delete("/api/models/m1").status_code == 204
    assert client.put("/api/models/m1", json=body).status_code == 404
    with pytest.raises(LookupError):  # the store's half of the race: the check and the write are one UPDATE
        update_model(store, build_model(body))
    assert not model_exists(store, "m1")

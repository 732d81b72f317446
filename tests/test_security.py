"""Web security: no key anywhere, CSRF and origin guards, body limits, tokens on the socket."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from workbench.web.app import create_app
from workbench.service.workspace import sample_path

SECRET = "sk-planted-7f3a9c1e5b2d4e6f8a0b"
CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"  # TestClient's own host name, "testserver", is not on the allow-list


def test_a_planted_api_key_appears_nowhere(settings, store, monkeypatch, tmp_path, caplog):
    """The key lives in the environment only: not in the database file, logs, exports or API answers."""
    monkeypatch.setenv("PLANTED_KEY", SECRET)
    seen = []
    with FakeOpenAIServer(FaultConfig(error_500_rate=0.1)) as server, \
            TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        c.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
        c.post("/api/models", json={"id": "m", "provider": "openai", "base_url": server.base_url, "model": "m",
                                    "api_key_env": "PLANTED_KEY"}).raise_for_status()
        seen.append(c.post("/api/models/m/test").text)
        c.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["m"]}).raise_for_status()
        for _ in range(300):
            runs = c.get("/api/runs").json()
            if runs[0]["status"] == "completed":
                break
            asyncio.run(asyncio.sleep(0.05))
        assert server.fake.authorizations[f"Bearer {SECRET}"] > 0  # it was used...
        c.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001", "model_id": "m",
                                         "field": "golden", "value": True}).raise_for_status()
        for path in ("/api/models", "/api/models/m", "/api/runs", "/api/workbench?dataset_id=cands&models=m",
                     "/api/metrics?dataset_id=cands", "/api/annotations?dataset_id=cands", "/openapi.json"):
            seen.append(c.get(path).text)
        for kind in ("results", "golden", "comparison-summary", "training", "few-shot"):
            seen.append(c.get(f"/api/exports/{kind}", params={"dataset_id": "cands"}).text)
        seen.append(c.get("/api/exports/training-parquet", params={"dataset_id": "cands"}).content.decode("latin-1"))
        with c.websocket_connect("ws://localhost/api/workbench/live?after=0") as ws:
            seen.append(ws.receive_text())
    assert all(SECRET not in text for text in seen)  # ...and shown nowhere
    assert SECRET not in caplog.text
    for path in store.settings.data_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.fixture
def client(settings, store):
    with TestClient(create_app(settings, store=store), base_url=LOCAL) as c:
        yield c


def test_changes_need_the_client_header(client):
    refused = client.post("/api/models", json={"id": "b", "provider": "baseline"})
    assert refused.status_code == 403 and "X-Workbench-Client" in refused.json()["detail"]
    # A cross-site form post (no custom header possible without a preflight) can't upload either.
    assert client.post("/api/datasets", files={"file": ("x.jsonl", b'{"id": 1}\n')}).status_code == 403
    assert client.get("/api/models").status_code == 200  # reading needs nothing
    assert client.post("/api/models", json={"id": "b", "provider": "baseline"}, headers=CLIENT).status_code == 201


def test_bodies_are_bounded(client):
    huge = {"id": "n", "provider": "baseline", "name": "x" * 2_000_000}
    assert client.post("/api/models", json=huge, headers=CLIENT).status_code == 413


def test_cors_is_closed(client):
    preflight = client.options("/api/models", headers={"Origin": "https://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_the_socket_refuses_other_origins(client):
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("ws://localhost/api/workbench/live", headers={"Origin": "https://evil.example"}) as ws:
            ws.receive_text()
    with client.websocket_connect("ws://localhost/api/workbench/live", headers={"Origin": "http://localhost"}):
        pass


def test_a_token_guards_the_api_and_the_socket(tmp_path, monkeypatch):
    from workbench.config import Settings

    monkeypatch.setenv("WORKBENCH_TOKEN", "t0ken")
    with TestClient(create_app(Settings.load(data_dir=tmp_path / "tok")), headers=CLIENT, base_url=LOCAL) as c:
        assert c.get("/api/datasets").status_code == 401
        assert c.get("/api/datasets?token=t0ken").status_code == 200
        assert c.get("/", ).status_code == 200  # the page itself loads; it then sends the token
        with pytest.raises(WebSocketDisconnect):
            with c.websocket_connect("ws://localhost/api/workbench/live") as ws:
                ws.receive_text()
        with c.websocket_connect("ws://localhost/api/workbench/live?token=t0ken"):
            pass


def test_templates_from_the_api_are_sandboxed(client):
    task = client.get("/api/tasks/candidate-screening").json()
    task["user"] = "{{ record.__class__.__mro__[1].__subclasses__() }}"
    saved = client.post("/api/tasks", json=task, headers=CLIENT)
    assert saved.status_code == 201
    from workbench.domain.tasks import Task, TaskError

    task = Task.from_dict({k: v for k, v in saved.json().items() if k != "version"})
    with pytest.raises(TaskError, match="unsafe"):
        task.render({"a": 1})

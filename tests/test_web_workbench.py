"""The page's API: start runs, the grid endpoint, filters and counts, the live socket, downloads."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from fastapi.testclient import TestClient

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from workbench.service.workspace import sample_path
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"  # TestClient's own host name, "testserver", is not on the allow-list

FIELDS = {"recommendation", "trajectory", "pedigree", "reasoning"}


@pytest.fixture
def fake():
    with FakeOpenAIServer(FaultConfig(latency_ms=1)) as server:
        yield server


@pytest.fixture
def client(settings, store, fake):
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        c.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
        for model in ("gemma", "olmo", "phi"):
            c.post("/api/models", json={"id": model, "name": model.title(), "provider": "openai",
                                        "base_url": fake.base_url, "model": model}).raise_for_status()
        yield c


def wait_for_runs(client, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = client.get("/api/runs").json()
        if runs and all(r["status"] in ("completed", "failed", "cancelled", "paused") for r in runs):
            return runs
        time.sleep(0.1)
    raise TimeoutError(client.get("/api/runs").json())


def all_rows(client, **params):
    rows, cursor = [], None
    while True:
        query = {**params, "limit": 30, "counts": False, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/workbench", params=query).json()
        rows += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def test_run_two_models_and_read_the_grid(client):
    started = client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma", "olmo"]})
    assert started.status_code == 201 and [r["status"] for r in started.json()] == ["queued", "queued"]
    runs = wait_for_runs(client)
    assert {r["status"] for r in runs} == {"completed"} and all(r["done"] == 100 for r in runs)

    page = client.get("/api/workbench", params={"dataset_id": "cands", "models": "gemma,olmo", "limit": 20}).json()
    assert page["dataset"] == {"id": "cands", "name": "cands", "count": 100}
    assert [m["id"] for m in page["models"]] == ["gemma", "olmo"]
    assert {"id", "name", "status", "progress", "total", "throughput", "eta_seconds",
            "results_count"} <= set(page["models"][0])
    assert page["models"][0]["status"] == "completed" and page["models"][0]["results_count"] == 100
    row = page["results"][0]
    # The seed's row keys, in their order (records are record_id/title/subtitle only inside).
    assert list(row) == ["seq", "candidate_id", "candidate_name", "candidate_title", "models", "agreement",
                         "disagree_fields", "needs_review", "preference", "note", "reviewed", "judge", "value",
                         "value_reasons"]
    assert row["candidate_id"] == "cand-000001" and " @ " in row["candidate_title"]
    cell = row["models"]["gemma"]
    assert FIELDS <= set(cell) and cell["is_golden"] is False and cell["is_fixed"] is False and cell["error"] is None
    assert page["next_cursor"] == "20" and len(page["results"]) == 20

    rows = all_rows(client, dataset_id="cands", models="gemma,olmo")
    assert [r["candidate_id"] for r in rows] == [f"cand-{i:06d}" for i in range(1, 101)]
    for r in rows:
        a, b = r["models"]["gemma"], r["models"]["olmo"]
        same = all(a[f] == b[f] for f in ("recommendation", "trajectory", "pedigree"))
        assert r["agreement"] is same and (not same) == bool(r["disagree_fields"])
        assert r["needs_review"] is (not same)  # nobody has reviewed anything yet

    differences = all_rows(client, dataset_id="cands", models="gemma,olmo", filter="differences")
    assert differences == [r for r in rows if not r["agreement"]] and differences
    counts = client.get("/api/workbench", params={"dataset_id": "cands", "models": "gemma,olmo"}).json()["counts"]
    assert counts["all"] == 100 and counts["differences"] == len(differences)
    assert counts["needs_review"] == len(differences) and counts["golden"] == 0


def test_models_not_run_yet_show_as_such(client):
    page = client.get("/api/workbench", params={"dataset_id": "cands", "models": "gemma,phi"}).json()
    assert [m["status"] for m in page["models"]] == ["not run", "not run"]
    assert page["results"][0]["models"] == {"gemma": None, "phi": None}
    assert page["results"][0]["agreement"] is None


def test_search_and_row_refresh(client):
    page = client.get("/api/workbench", params={"dataset_id": "cands", "q": "sofía laurent"}).json()
    assert [r["candidate_name"] for r in page["results"]] == ["Sofía Laurent"]
    assert client.get("/api/workbench", params={"dataset_id": "cands", "q": "AIRBNB"}).json()["counts"]["all"] >= 1
    assert client.get("/api/workbench", params={"dataset_id": "cands", "q": "100%_"}).json()["results"] == []
    only = client.get("/api/workbench", params={"dataset_id": "cands", "seqs": "3,7"}).json()
    assert [r["seq"] for r in only["results"]] == [3, 7]
    assert client.get("/api/workbench", params={"dataset_id": "cands", "filter": "bogus"}).status_code == 422
    assert client.get("/api/workbench", params={"dataset_id": "nope"}).status_code == 404


def test_three_models_compare(client):
    client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma", "olmo", "phi"]})
    wait_for_runs(client)
    summary = client.get("/api/compare", params={"dataset_id": "cands", "models": "gemma,olmo,phi"}).json()
    assert summary["all_answered"] == 100 and len(summary["pairs"]) == 3
    assert 0 < summary["disagreement_share"] < 1
    rows = all_rows(client, dataset_id="cands", models="gemma,olmo,phi", filter="differences")
    assert len(rows) == round(summary["disagreement_share"] * 100)


def test_live_socket_sends_coalesced_events_and_resumes(client):
    with client.websocket_connect("ws://localhost/api/workbench/live?after=0") as ws:
        client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma"]})
        seen, frames, last = [], 0, 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = json.loads(ws.receive_text())
            frames += 1
            assert frame["last_id"] > last
            last = frame["last_id"]
            seen += frame["messages"]
            if any(m["type"] == "run_state" and m["status"] == "completed" for m in seen):
                break
    types = {m["type"] for m in seen}
    assert {"run_state", "result", "progress"} <= types
    results = [i for m in seen if m["type"] == "result" for i in m["items"]]
    assert sorted(i["seq"] for i in results) == list(range(1, 101))
    assert frames < 60  # 100 results + progress + states arrived in a few coalesced frames
    ids = [i["id"] for i in results]
    assert ids == sorted(ids)
    # Reconnecting from an earlier id replays what came after it, and nothing before.
    middle = ids[49]
    with client.websocket_connect(f"ws://localhost/api/workbench/live?after={middle}") as ws:
        frame = json.loads(ws.receive_text())
    replayed = [i["seq"] for m in frame["messages"] if m["type"] == "result" for i in m["items"]]
    assert replayed == sorted(i["seq"] for i in results if i["id"] > middle)


def test_pause_resume_cancel_and_retry_through_the_api(client, fake):
    fake.config.latency_ms = 30
    [run] = client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma"], "concurrency": 2}).json()
    time.sleep(0.5)
    paused = client.post(f"/api/runs/{run['id']}/pause").json()
    assert paused["status"] == "paused"
    time.sleep(1.2)
    done_while_paused = client.get(f"/api/runs/{run['id']}").json()["done"]
    time.sleep(0.5)
    assert client.get(f"/api/runs/{run['id']}").json()["done"] == done_while_paused < 100
    assert client.post(f"/api/runs/{run['id']}/resume").json()["status"] == "queued"
    fake.config.latency_ms = 1
    assert wait_for_runs(client)[0]["status"] == "completed"
    assert client.post(f"/api/runs/{run['id']}/pause").status_code == 409
    assert client.post(f"/api/runs/{run['id']}/retry-errors").json()["status"] == "queued"
    assert wait_for_runs(client)[0]["done"] == 100


def test_downloads(client):
    client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma", "olmo"]})
    wait_for_runs(client)
    response = client.get("/api/exports/results", params={"dataset_id": "cands", "format": "csv"})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 200 and FIELDS <= set(rows[0])
    jsonl = client.get("/api/exports/results", params={"dataset_id": "cands", "models": "olmo", "format": "jsonl"})
    assert len(jsonl.text.splitlines()) == 100
    assert client.get("/api/exports/results", params={"dataset_id": "cands", "format": "xml"}).status_code == 422


def test_a_restarted_server_resumes_its_runs(settings, store, fake):
    fake.config.latency_ms = 40
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        c.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())})
        c.post("/api/models", json={"id": "gemma", "provider": "openai", "base_url": fake.base_url, "model": "g",
                                    "max_concurrency": 2})
        [run] = c.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma"]}).json()
        time.sleep(0.6)
    stopped = store  # the app shut down: its run went back to the queue
    from workbench.store.runs import get_run

    halfway = get_run(stopped, run["id"])
    assert halfway.status == "queued" and 0 < halfway.done < 100
    fake.config.latency_ms = 1
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        assert wait_for_runs(c)[0]["status"] == "completed"
    seen = fake.requests_by_prompt
    assert sum(seen.values()) <= 100 + 4  # at most the requests in flight at shutdown were asked again

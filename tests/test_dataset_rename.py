"""Renaming and deleting a dataset through the API (#15 item 10): the rules of a name, the errors,
and the live `dataset` message a page reloads its list on."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from workbench.service.live import live_messages
from workbench.store.results import last_event_id
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"


@pytest.fixture
def client(settings, store):
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        yield c


def upload(client, name="People", n=3) -> dict:
    body = b"".join(json.dumps({"id": f"r{i}", "name": f"N{i}"}).encode() + b"\n" for i in range(n))
    created = client.post("/api/datasets", files={"file": ("people.jsonl", body)}, data={"name": name})
    assert created.status_code == 201, created.text
    return created.json()


def dataset_messages(store, after: int) -> list[dict]:
    return [m for m in live_messages(store, after)[1] if m["type"] == "dataset"]


def test_rename_answers_the_dataset_and_tells_live_pages(client, store):
    created = upload(client)
    after = last_event_id(store)
    renamed = client.patch(f"/api/datasets/{created['id']}", json={"name": "  Candidates, March  "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == client.get(f"/api/datasets/{created['id']}").json()
    assert renamed.json()["name"] == "Candidates, March" and renamed.json()["id"] == created["id"]
    assert [d["name"] for d in client.get("/api/datasets").json()] == ["Candidates, March"]
    assert dataset_messages(store, after) == [
        {"type": "dataset", "run_id": None, "id": last_event_id(store), "dataset_id": created["id"],
         "action": "renamed"}]
    assert client.patch(f"/api/datasets/{created['id']}", json={"name": "é" * 200}).status_code == 200


@pytest.mark.parametrize("body", [
    {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": None}, {"name": 5}, {"name": ["a"]},
    {"name": "a\x00b"}, {"name": "two\nlines"}, {}, {"title": "x"}, [], "name", None,
])
def test_a_bad_name_is_a_422_and_changes_nothing(client, store, body):
    created = upload(client)
    after = last_event_id(store)
    response = client.patch(f"/api/datasets/{created['id']}", json=body)
    assert response.status_code == 422, response.text
    assert client.get(f"/api/datasets/{created['id']}").json()["name"] == "People"
    assert dataset_messages(store, after) == []


def test_junk_bodies_are_4xx(client):
    created = upload(client)
    for content, kind in ((b"{nope", "application/json"), (b"\xff\xfe", "application/json"),
                          (b"name=x", "application/x-www-form-urlencoded")):
        response = client.patch(f"/api/datasets/{created['id']}", content=content, headers={"content-type": kind})
        assert 400 <= response.status_code < 500, (content, response.text)


def test_unknown_dataset_is_a_404_for_rename_and_delete(client, store):
    after = last_event_id(store)
    assert client.patch("/api/datasets/nope", json={"name": "x"}).status_code == 404
    assert client.delete("/api/datasets/nope").status_code == 404
    assert dataset_messages(store, after) == []  # nothing happened, so nothing to tell


def test_delete_removes_runs_results_and_annotations_and_tells_live_pages(client, store):
    import sqlalchemy as sa

    from workbench.domain.models import build_model
    from workbench.store.annotations import annotate
    from workbench.store.models import save_model
    from workbench.store.results import ResultRow, RunUpdate, write_batch
    from workbench.store.runs import create_run
    from workbench.store.schema import annotation_events, annotations, events, records, results, runs

    created = upload(client)
    kept = upload(client, name="Kept")
    model = build_model({"id": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    save_model(store, model)
    run_ids = []
    for dataset in (created, kept):
        run_id = create_run(store, dataset_id=dataset["id"], model=model, task_name="candidate-screening",
                            task_version=1, total=3, options={}).id
        out = {"recommendation": "Yes", "trajectory": "Good", "pedigree": "Good", "reasoning": "r"}
        write_batch(store, [RunUpdate(run_id, [ResultRow(1, "r0", "ok", out, None, None, None, 5.0, 1, 1, 1, False)],
                                      [], {"run_id": run_id, "done": 1, "errors": 0, "tokens_in": 0, "tokens_out": 0,
                                           "cost": 0, "active_seconds": 0, "model_id": "m",
                                           "dataset_id": dataset["id"]})])
        annotate(store, dataset_id=dataset["id"], record_id="r0", field="golden", value=True, model_id="m",
                 author="tester")
        run_ids.append(run_id)
    after = last_event_id(store)
    assert client.delete(f"/api/datasets/{created['id']}").status_code == 204
    assert dataset_messages(store, after) == [
        {"type": "dataset", "run_id": None, "id": last_event_id(store), "dataset_id": created["id"],
         "action": "deleted"}]
    with store.engine.connect() as conn:
        def count(table, where):
            return conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar()

        for run_id, left in zip(run_ids, (0, 1), strict=True):
            assert count(runs, runs.c.id == run_id) == left
            assert count(results, results.c.run_id == run_id) == left
            assert (count(events, events.c.run_id == run_id) > 0) == bool(left)
        for dataset, left in ((created, 0), (kept, 1)):
            assert count(annotations, annotations.c.dataset_id == dataset["id"]) == left
            assert (count(annotation_events, annotation_events.c.dataset_id == dataset["id"]) > 0) == bool(left)
            assert (count(records, records.c.dataset_id == dataset["id"]) > 0) == bool(left)
    assert [d["id"] for d in client.get("/api/datasets").json()] == [kept["id"]]

"""Curation through the API: annotations, filters, metrics, every export kind, few-shot runs."""

from __future__ import annotations

import csv
import io
import json
import time

import orjson
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from testkit.fake_openai import FakeOpenAIServer, prompt_key
from tests.test_web_workbench import all_rows, wait_for_runs
from workbench.domain.metrics import cohen_kappa
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.service.workspace import sample_path
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"  # TestClient's own host name, "testserver", is not on the allow-list

FIX = {"recommendation": "Strong Yes", "trajectory": "Strong", "pedigree": "Good", "reasoning": "fixed by hand"}


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def client(settings, store, fake):
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as c:
        c.post("/api/datasets", files={"file": ("cands.jsonl", sample_path().read_bytes())}).raise_for_status()
        for model in ("gemma", "olmo"):
            c.post("/api/models", json={"id": model, "provider": "openai", "base_url": fake.base_url,
                                        "model": model}).raise_for_status()
        c.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma", "olmo"]}).raise_for_status()
        wait_for_runs(c)
        yield c


def mark(client, record, field, value, model="gemma", author="ann"):
    response = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": record, "model_id": model,
                                                     "field": field, "value": value, "author": author})
    assert response.status_code == 201, response.text
    return response.json()


def grid(client, **params):
    return client.get("/api/workbench", params={"dataset_id": "cands", "models": "gemma,olmo", **params}).json()


def test_annotations_show_in_the_grid_and_filters(client):
    mark(client, "cand-000001", "golden", True)
    mark(client, "cand-000002", "correction", FIX, model="olmo")
    mark(client, "cand-000003", "judgement", "wrong")
    row = grid(client, seqs="1,2")["results"]
    assert row[0]["models"]["gemma"]["is_golden"] is True
    fixed = row[1]["models"]["olmo"]
    assert fixed["is_fixed"] and fixed["recommendation"] == "Strong Yes"
    assert fixed["original"]["reasoning"] != FIX["reasoning"]
    counts = grid(client)["counts"]
    assert (counts["golden"], counts["fixed"], counts["unreviewed"]) == (1, 1, 97)
    def shown(name):
        return [r["candidate_id"] for r in all_rows(client, dataset_id="cands", models="gemma,olmo", filter=name)]

    assert shown("golden") == ["cand-000001"]
    assert shown("fixed") == ["cand-000002"]
    needs = all_rows(client, dataset_id="cands", models="gemma,olmo", filter="needs_review")
    assert "cand-000003" in [r["candidate_id"] for r in needs]  # marked wrong
    assert all(r["needs_review"] for r in needs)
    bad = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001", "model_id": "gemma",
                                                "field": "correction", "value": {"recommendation": "Great"}})
    assert bad.status_code == 422 and "schema" in bad.json()["detail"]
    undone = client.post("/api/annotations/undo", json={"dataset_id": "cands", "author": "ann"})
    assert undone.status_code == 200 and undone.json()["field"] == "judgement"
    assert client.get("/api/annotations", params={"dataset_id": "cands"}).json()[0]["undoes"] is not None


def test_annotations_reach_every_page_live(client):
    with client.websocket_connect("ws://localhost/api/workbench/live") as ws:
        mark(client, "cand-000005", "golden", True, author="bob")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            messages = json.loads(ws.receive_text())["messages"]
            found = [m for m in messages if m["type"] == "annotation"]
            if found:
                break
    assert found[0]["record_id"] == "cand-000005" and found[0]["author"] == "bob" and found[0]["state"]["golden"]


def test_verdict_filters_and_sort_by_disagreement(client):
    rows = all_rows(client, dataset_id="cands", models="gemma,olmo")
    yes_no = [r for r in rows if r["models"]["gemma"]["recommendation"] == "Yes"
              and r["models"]["olmo"]["recommendation"] == "No"]
    filtered = all_rows(client, dataset_id="cands", models="gemma,olmo",
                        verdict=["gemma:recommendation=Yes", "olmo:recommendation=No"])
    assert filtered == yes_no
    on_field = all_rows(client, dataset_id="cands", models="gemma,olmo", filter="differences",
                        diff_field="recommendation")
    def differ(row):
        return row["models"]["gemma"]["recommendation"] != row["models"]["olmo"]["recommendation"]

    assert on_field == [r for r in rows if differ(r)]
    contested = all_rows(client, dataset_id="cands", models="gemma,olmo", sort="disagreement")
    assert sorted(r["seq"] for r in contested) == list(range(1, 101))  # every record once, across pages
    scores = [len(r["disagree_fields"]) for r in contested]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert grid(client, verdict="gemma:colour=Red").get("detail")
    assert client.get("/api/workbench", params={"dataset_id": "cands", "verdict": "nonsense"}).status_code == 422


def test_metrics(client):
    for i in range(1, 11):
        mark(client, f"cand-{i:06d}", "golden", True, model="olmo")
    client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001", "field": "preference",
                                          "value": "olmo", "author": "ann"})
    m = client.get("/api/metrics", params={"dataset_id": "cands"}).json()
    assert m["models"]["gemma"]["answered"] == 100 and m["models"]["olmo"]["errors"] == 0
    assert m["accuracy"]["olmo"] == {**m["accuracy"]["olmo"], "n": 10, "correct": 10, "accuracy": 1.0}
    assert m["accuracy"]["gemma"]["n"] == 10
    assert m["win_rate"]["olmo"] == {**m["win_rate"]["olmo"], "wins": 1, "n": 1, "rate": 1.0, "high": 1.0, "small": True}
    rows = all_rows(client, dataset_id="cands", models="gemma,olmo")
    expected = cohen_kappa((r["models"]["gemma"]["recommendation"], r["models"]["olmo"]["recommendation"])
                           for r in rows)
    [pair] = m["agreement"]["recommendation"]
    assert pair["kappa"] == pytest.approx(expected) and pair["n"] == 100
    assert sum(map(sum, m["confusion"]["gemma"]["matrix"])) == 10


def test_every_export_kind(client, tmp_path):
    for i in (1, 2, 3):
        mark(client, f"cand-{i:06d}", "golden", True)
    mark(client, "cand-000002", "correction", FIX)

    def get(kind, **params):
        response = client.get(f"/api/exports/{kind}", params={"dataset_id": "cands", **params})
        assert response.status_code == 200, response.text
        return response

    golden = [json.loads(line) for line in get("golden").text.splitlines()]
    assert [g["id"] for g in golden] == ["cand-000001", "cand-000002", "cand-000003"]
    assert golden[1]["golden_answer"] == FIX and golden[1]["golden_provenance"]["annotator"] == "ann"
    assert golden[0]["golden_provenance"]["model_id"] == "gemma" and golden[0]["name"]
    # Re-importing the golden file as a dataset works.
    again = client.post("/api/datasets", files={"file": ("golden.jsonl", get("golden").content)})
    assert again.status_code == 201 and again.json()["record_count"] == 3

    training = [json.loads(line) for line in get("training").text.splitlines()]
    assert len(training) == 3
    for line in training:
        assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
        assert TASK.validation_errors(orjson.loads(line["messages"][2]["content"])) == []
    (tmp_path / "t.parquet").write_bytes(get("training-parquet").content)
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows == 3 and str(table.schema.field("messages").type).startswith("list<")

    comparison = list(csv.DictReader(io.StringIO(get("comparison").text)))
    assert len(comparison) == 100 and {"gemma.recommendation", "olmo.recommendation", "agreement"} <= set(comparison[0])
    summary = list(csv.DictReader(io.StringIO(get("comparison-summary").text)))
    assert {r["section"] for r in summary} >= {"models", "agreement", "accuracy"}
    block = get("few-shot", examples=2).text
    assert block.count("Answer:") == 2 and "Strong Yes" in block  # the corrected answer
    wide = list(csv.DictReader(io.StringIO(get("results", format="csv", layout="wide").text)))
    assert len(wide) == 100 and "gemma.recommendation" in wide[0]
    assert client.get("/api/exports/golden", params={"dataset_id": "cands", "format": "csv"}).status_code == 422
    assert client.get("/api/exports/bogus", params={"dataset_id": "cands"}).status_code == 404


def test_few_shot_run_never_shows_a_record_itself_and_metrics_compare(client, fake, store):
    for i in range(1, 21):
        mark(client, f"cand-{i:06d}", "golden", True, model="olmo")
    none_yet = client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma"], "few_shot": 2,
                                              "examples_from": "nope"})
    assert none_yet.status_code == 404 or none_yet.status_code == 422
    [run] = client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma"], "few_shot": 3}).json()
    assert run["options"]["example_ids"] == ["cand-000001", "cand-000002", "cand-000003"]
    wait_for_runs(client)
    from workbench.store.datasets import iter_records

    counts = {r.record_id: fake.fake.message_counts[prompt_key(TASK.render(r.data)[-1]["content"])]
              for r in iter_records(store, "cands")}
    assert counts["cand-000001"] == 2 + 2 * 2  # its own example left out
    assert counts["cand-000050"] == 2 + 2 * 3
    icl = client.get("/api/metrics", params={"dataset_id": "cands"}).json()["icl"]
    [row] = icl
    assert row["model_id"] == "gemma" and row["examples"] == 3 and row["excluded_examples"] == 3
    assert row["zero_shot"]["n"] == row["few_shot"]["n"] == 17  # 20 labels minus the 3 examples


def test_an_exported_golden_file_feeds_a_few_shot_run(client, fake, store):
    """Workflow 3's loop: export golden, import it, use it as examples, see the change in metrics."""
    for i in range(1, 31):
        mark(client, f"cand-{i:06d}", "golden", True, model="olmo")
    exported = client.get("/api/exports/golden", params={"dataset_id": "cands"}).content
    golden = client.post("/api/datasets", files={"file": ("golden.jsonl", exported)}, data={"name": "golden"}).json()
    [run] = client.post("/api/runs", json={"dataset_id": "cands", "model_ids": ["gemma"], "few_shot": 4,
                                           "examples_from": golden["id"]}).json()
    assert run["options"]["example_ids"] == [f"cand-{i:06d}" for i in range(1, 5)]
    wait_for_runs(client)
    from workbench.store.datasets import iter_records

    counts = {r.record_id: fake.fake.message_counts[prompt_key(TASK.render(r.data)[-1]["content"])]
              for r in iter_records(store, "cands")}
    assert counts["cand-000002"] == 2 + 2 * 3 and counts["cand-000099"] == 2 + 2 * 4
    [row] = client.get("/api/metrics", params={"dataset_id": "cands"}).json()["icl"]
    assert row["zero_shot"]["n"] == row["few_shot"]["n"] == 26
    assert row["zero_shot"]["accuracy"] is not None and row["few_shot"]["accuracy"] is not None

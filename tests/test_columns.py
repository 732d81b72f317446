"""Columns are runs (issue #14 items 2, 3, 5): `models=` takes model ids (their latest run) and
`run:ID`; two runs of one model sit side by side; annotations belong to the answer they were made
on, so a golden mark never shows on another run's answer; every reader takes the same columns."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from testkit.scale import answer
from workbench.domain.columns import Variant, column_labels, shared_verdict_fields
from workbench.domain.model_ids import BadColumnId, parse_column_ids, parse_model_ids, run_id_of
from workbench.domain.comparison import verdict_key
from workbench.domain.models import build_model
from workbench.domain.tasks import Task
from workbench.grid.curation import golden_examples
from workbench.service.workspace import sample_path
from workbench.store.datasets import import_dataset
from workbench.store.models import save_model
from workbench.store.results import ResultRow, RunUpdate, write_batch
from workbench.store.runs import create_run, set_status
from workbench.store.schema import events
from workbench.store.tasks import get_task, save_task
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"
SEQS = range(1, 11)


def _run(store, dataset_id, model, *, answers_of=None, options=None, task=None):
    """A completed run of ``model`` over records 1-10, answering as ``answers_of`` would."""
    config = build_model({"id": model, "name": model.title(), "provider": "openai",
                          "base_url": "http://127.0.0.1:9/v1", "model": model})
    save_model(store, config)
    task = task or get_task(store, "candidate-screening")
    fields = [n for n, _ in task.verdict_fields]
    run = create_run(store, dataset_id=dataset_id, model=config, task_name=task.name, task_version=task.version,
                     total=len(SEQS), options=options or {})
    rows = []
    for seq in SEQS:
        record_id = f"cand-{seq:06d}"
        out = answer(record_id, answers_of or model)
        out = {k: v for k, v in out.items() if k in task.field_names}
        rows.append(ResultRow(seq, record_id, "ok", out, None, None, None, 5.0, 10, 10, 1, False,
                              verdict_key(out, fields), out.get(task.primary_verdict or "")))
    write_batch(store, [RunUpdate(run.id, rows, [], {"run_id": run.id, "done": len(rows), "errors": 0,
                                                     "tokens_in": 0, "tokens_out": 0, "cost": 0,
                                                     "active_seconds": 0, "model_id": model,
                                                     "dataset_id": dataset_id})])
    set_status(store, run.id, "completed")
    return run.id


def _differs(a: str, b: str) -> int:
    """The first record whose recommendation differs between answers as ``a`` and as ``b``."""
    return next(seq for seq in SEQS
                if answer(f"cand-{seq:06d}", a)["recommendation"] != answer(f"cand-{seq:06d}", b)["recommendation"])


@pytest.fixture
def columns(settings, store):
    """gemma ran twice (run 2 answers differently, five-shot), olmo once; another dataset has a run."""
    dataset = import_dataset(store, sample_path(), name="cands")
    other = import_dataset(store, sample_path(), name="other")
    first = _run(store, dataset.id, "gemma")
    olmo = _run(store, dataset.id, "olmo")
    second = _run(store, dataset.id, "gemma", answers_of="gemma-again", options={"few_shot": 5})
    elsewhere = _run(store, other.id, "gemma")
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as client:
        yield client, {"first": first, "olmo": olmo, "second": second, "elsewhere": elsewhere}


def _events(store, kind):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(events.c.payload).where(events.c.type == kind).order_by(events.c.id)).all()


def grid(client, **params):
    response = client.get("/api/workbench", params={"dataset_id": "cands", "limit": 50, **params})
    assert response.status_code == 200, response.text
    return response.json()


def cell(page, seq, column):
    return next(r for r in page["results"] if r["seq"] == seq)["models"][column]


def test_the_columns_of_a_dataset_are_its_runs_newest_first(columns):
    client, runs = columns
    listed = client.get("/api/columns", params={"dataset_id": "cands"}).json()
    assert [c["id"] for c in listed] == [f"run:{runs['second']}", f"run:{runs['olmo']}", f"run:{runs['first']}"]
    newest = listed[0]
    assert newest == newest | {"run_id": runs["second"], "model_id": "gemma", "model_name": "Gemma",
                               "task": {"name": "candidate-screening", "version": newest["task"]["version"]},
                               "few_shot": 5, "status": "completed", "done": 10, "total": 10, "latest": True}
    assert newest["label"] == f"Gemma · candidate-screening v{newest['task']['version']} · 5-shot"
    assert {"params", "created_at"} <= set(newest)
    assert [c["latest"] for c in listed] == [True, True, False]  # gemma's first run is no default column
    assert client.get("/api/columns", params={"dataset_id": "nope"}).status_code == 404


def test_two_runs_of_one_model_side_by_side_and_the_seed_default(columns):
    client, runs = columns
    default = grid(client)
    assert [m["id"] for m in default["models"]] == ["gemma", "olmo"]  # the latest run of each, as before
    assert default["models"][0]["run_id"] == runs["second"]
    both = f"gemma,run:{runs['first']},olmo"
    page = grid(client, models=both)
    assert [m["id"] for m in page["models"]] == ["gemma", f"run:{runs['first']}", "olmo"]
    entry = {m["id"]: m for m in page["models"]}
    assert entry["gemma"]["run_id"] == runs["second"] and entry[f"run:{runs['first']}"]["run_id"] == runs["first"]
    assert entry["gemma"]["model_id"] == entry[f"run:{runs['first']}"]["model_id"] == "gemma"
    assert entry["gemma"]["few_shot"] == 5 and entry["olmo"]["few_shot"] == 0
    assert entry["gemma"]["label"].endswith("· 5-shot") and entry["olmo"]["label"].startswith("Olmo · ")
    assert entry["gemma"]["task"]["name"] == "candidate-screening"
    assert set(page["results"][0]["models"]) == {"gemma", f"run:{runs['first']}", "olmo"}
    seq = _differs("gemma", "gemma-again")
    assert cell(page, seq, "gemma")["recommendation"] == answer(f"cand-{seq:06d}", "gemma-again")["recommendation"]
    assert cell(page, seq, f"run:{runs['first']}")["recommendation"] == \
        answer(f"cand-{seq:06d}", "gemma")["recommendation"]
    assert cell(page, seq, f"run:{runs['first']}")["run_id"] == runs["first"]  # each answer names its run
    assert cell(page, seq, "gemma")["run_id"] == runs["second"]
    # Differences between the two runs of gemma alone.
    pair = f"run:{runs['first']},run:{runs['second']}"
    differing = grid(client, models=pair, filter="differences")
    assert seq in {r["seq"] for r in differing["results"]}
    assert differing["counts"]["differences"] == len(differing["results"])
    assert grid(client, models="")["models"] == []  # empty: no columns
    assert grid(client, models="phi")["models"][0] | {"status": "not run", "run_id": None, "task": None} == \
        grid(client, models="phi")["models"][0]
    verdict = grid(client, models=pair, verdict=f"run:{runs['first']}:recommendation="
                   f"{answer(f'cand-{seq:06d}', 'gemma')['recommendation']}")
    assert seq in {r["seq"] for r in verdict["results"]}


@pytest.mark.parametrize("models,status,words", [
    ("run:abc", 422, "run:ID"), ("run:0", 422, "run:ID"), ("run:-3", 422, "run:ID"), ("a b", 422, "neither"),
    ("run:99999999", 404, "no run 99999999"), ("run:99999999999999999999", 422, "run:ID"),
    (",".join(f"m{i}" for i in range(40)), 422, "at most"),
])
def test_junk_columns_are_refused_by_name(columns, models, status, words):
    client, _ = columns
    for path in ("/api/workbench", "/api/metrics", "/api/compare", "/api/exports/results"):
        response = client.get(path, params={"dataset_id": "cands", "models": models})
        assert response.status_code == status, (path, response.text)
        assert words in response.json()["detail"], (path, response.text)


def test_a_run_of_another_dataset_is_no_column_here(columns):
    client, runs = columns
    response = client.get("/api/workbench", params={"dataset_id": "cands", "models": f"run:{runs['elsewhere']}"})
    assert response.status_code == 422 and "not on 'cands'" in response.json()["detail"]
    response = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001",
                                                      "run_id": runs["elsewhere"], "field": "golden", "value": True})
    assert response.status_code == 422 and "not on 'cands'" in response.json()["detail"]
    response = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001",
                                                      "run_id": 99999999, "field": "golden", "value": True})
    assert response.status_code == 404
    response = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000001",
                                                      "run_id": runs["olmo"], "model_id": "gemma", "field": "golden",
                                                      "value": True})
    assert response.status_code == 422 and "not of 'gemma'" in response.json()["detail"]


def test_a_golden_mark_stays_on_the_answer_it_was_made_on(columns, store):
    """Star run 1's answer, then gemma runs again with a different answer: the latest-run column
    shows no star, the run:1 column does, and the golden export and few-shot examples hold run 1's answer."""
    client, runs = columns
    seq = _differs("gemma", "gemma-again")
    record_id = f"cand-{seq:06d}"
    marked = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": record_id,
                                                    "run_id": runs["first"], "field": "golden", "value": True})
    assert marked.status_code == 201, marked.text
    event = marked.json()
    assert event["run_id"] == runs["first"] and event["model_id"] == "gemma"
    assert event["state"]["run_id"] == runs["first"]
    first = f"run:{runs['first']}"
    page = grid(client, models=f"gemma,{first}")
    assert cell(page, seq, "gemma")["is_golden"] is False
    assert cell(page, seq, first)["is_golden"] is True
    assert page["counts"]["golden"] == 1 and grid(client, models="gemma")["counts"]["golden"] == 0
    assert [r["seq"] for r in grid(client, models="gemma", filter="golden")["results"]] == []
    assert [r["seq"] for r in grid(client, models=first, filter="golden")["results"]] == [seq]
    golden = client.get("/api/exports/golden", params={"dataset_id": "cands"})
    assert golden.status_code == 200, golden.text
    rows = [json.loads(line) for line in golden.text.splitlines()]
    assert [r["id"] for r in rows] == [record_id]
    assert rows[0]["golden_answer"]["recommendation"] == answer(record_id, "gemma")["recommendation"]
    assert rows[0]["golden_provenance"]["run_id"] == runs["first"]
    examples = golden_examples(store, "cands")
    assert [(r, a["recommendation"]) for r, _, a in examples] == [(record_id, answer(record_id, "gemma")["recommendation"])]
    live = [json.loads(e.payload) for e in _events(store, "annotation")]
    assert live[-1]["run_id"] == runs["first"] and live[-1]["state"]["golden"] is True
    # A model id alone still works: the latest run of the model (gemma's second run).
    by_model = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": record_id,
                                                      "model_id": "gemma", "field": "judgement", "value": "wrong"})
    assert by_model.status_code == 201 and by_model.json()["run_id"] == runs["second"]
    page = grid(client, models=f"gemma,{first}")
    assert cell(page, seq, "gemma")["judgement"] == "wrong" and cell(page, seq, first)["judgement"] is None
    log = client.get("/api/annotations", params={"dataset_id": "cands"}).json()
    assert [e["run_id"] for e in log] == [runs["second"], runs["first"]]
    undone = client.post("/api/annotations/undo", json={"dataset_id": "cands"}).json()
    assert undone["run_id"] == runs["second"] and undone["value"] is None


def test_a_preference_names_a_column_and_is_kept_as_its_run(columns):
    client, runs = columns
    first = f"run:{runs['first']}"
    saved = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000002",
                                                   "field": "preference", "value": first})
    assert saved.status_code == 201 and saved.json()["state"]["preference"] == first
    by_model = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000003",
                                                      "field": "preference", "value": "gemma"})
    assert by_model.json()["state"]["preference"] == f"run:{runs['second']}"  # the run, not the model
    page = grid(client, models=f"gemma,{first},olmo")
    preference = {r["seq"]: r["preference"] for r in page["results"]}
    assert preference[2] == first and preference[3] == "gemma"  # as the columns asked for
    assert {r["seq"]: r["preference"] for r in grid(client, models="gemma,olmo")["results"]}[2] is None
    for junk in ("run:abc", "nobody", 5):
        response = client.post("/api/annotations", json={"dataset_id": "cands", "record_id": "cand-000002",
                                                          "field": "preference", "value": junk})
        assert response.status_code == 422, response.text
    metrics = client.get("/api/metrics", params={"dataset_id": "cands", "models": f"gemma,{first}"})
    assert metrics.status_code == 200, metrics.text
    assert set(metrics.json()["costs"]) == {"gemma", first}
    assert metrics.json()["win_rate"][first]["wins"] >= 1


def test_exports_metrics_and_compare_take_run_columns(columns):
    client, runs = columns
    pair = f"run:{runs['first']},run:{runs['second']}"
    compared = client.get("/api/compare", params={"dataset_id": "cands", "models": pair})
    assert compared.status_code == 200 and compared.json()["models"] == pair.split(",")
    assert compared.json()["disagreement_share"] > 0
    report = client.get("/api/exports/comparison", params={"dataset_id": "cands", "models": pair})
    assert report.status_code == 200, report.text
    header = next(csv.reader(io.StringIO(report.text)))
    assert f"run:{runs['first']}.recommendation" in header and f"run:{runs['second']}.recommendation" in header
    results = client.get("/api/exports/results", params={"dataset_id": "cands", "models": pair, "format": "jsonl"})
    lines = [json.loads(line) for line in results.text.splitlines()]
    assert len(lines) == 2 * len(SEQS) and {line["model_id"] for line in lines} == {"gemma"}
    assert {line["run_id"] for line in lines} == {runs["first"], runs["second"]}


def test_columns_of_tasks_with_different_verdicts_compare_on_the_shared_ones(columns, store):
    """The grid shows the first column's task; differences and agreement use the verdict fields
    every column's task has (here only `recommendation`)."""
    client, runs = columns
    screening = get_task(store, "candidate-screening")
    schema = {"type": "object", "required": ["recommendation"], "properties": {
        "recommendation": screening.output_schema["properties"]["recommendation"]}}
    slim = save_task(store, Task(name="slim", system="s", user="{{ name }}", output_schema=schema))
    slim_run = _run(store, "cands", "phi", answers_of="gemma", task=slim)
    assert shared_verdict_fields(screening, [screening, slim]) == (["recommendation"], False)
    assert shared_verdict_fields(screening, [screening]) == ([n for n, _ in screening.verdict_fields], True)
    both = f"run:{runs['first']},run:{slim_run}"
    page = grid(client, models=both)
    assert page["task"]["name"] == "candidate-screening"
    # Same recommendations (phi answered as gemma did): no differences, though the fields differ.
    assert grid(client, models=both, filter="differences")["results"] == []
    assert page["counts"]["differences"] == 0
    answered = [r for r in page["results"] if r["seq"] in SEQS]
    assert answered and all(r["agreement"] is True and r["disagree_fields"] == [] for r in answered)
    compared = client.get("/api/compare", params={"dataset_id": "cands", "models": both}).json()
    assert list(compared["field_agreement"]) == ["recommendation"] and compared["disagreement_share"] == 0
    # A field of the first column's task only: the column without it never differs on it.
    assert grid(client, models=both, filter="differences", diff_field="trajectory")["results"] == []
    response = client.get("/api/workbench", params={"dataset_id": "cands", "models": f"run:{slim_run}",
                                                    "filter": "differences", "diff_field": "trajectory"})
    assert response.status_code == 422 and "not a verdict field of task 'slim'" in response.json()["detail"]


def test_column_ids_and_labels_in_the_domain():
    assert parse_column_ids(None) is None and parse_column_ids("") == [] and parse_model_ids("") is None
    assert parse_column_ids("gemma, run:7,gemma,") == ["gemma", "run:7"]
    assert run_id_of("run:7") == 7 and run_id_of("gemma") is None
    for junk in ("run:", "run:07x", "run:٣", "ge mma", "run:9223372036854775808"):
        with pytest.raises(BadColumnId):
            run_id_of(junk)
    gemma = Variant("Gemma 3 4B", "sentiment", 2, 5, {"temperature": 0.0})
    assert column_labels([gemma]) == ["Gemma 3 4B · sentiment v2 · 5-shot"]
    warm = Variant("Gemma 3 4B", "sentiment", 1, 0, {"temperature": 0.7})
    assert column_labels([gemma, warm]) == ["Gemma 3 4B · sentiment v2 · 5-shot · temp 0.0",
                                            "Gemma 3 4B · sentiment v1 · temp 0.7"]
    seeded = [Variant("Olmo", "t", 1, 0, {"seed": 1}), Variant("Olmo", "t", 1, 0, {"seed": 2})]
    assert column_labels(seeded) == ["Olmo · t v1 · seed 1", "Olmo · t v1 · seed 2"]
    assert column_labels([Variant("Olmo", "t", 1, 0, {"seed": 3})]) == ["Olmo · t v1"]  # alone, a seed says little


def test_columns_alike_in_everything_are_told_apart_by_their_run():
    twins = [Variant("Olmo", "t", 1, 0, {}, run_id=4), Variant("Olmo", "t", 1, 0, {}, run_id=9),
             Variant("Gemma", "t", 1, 0, {}, run_id=5)]
    assert column_labels(twins) == ["Olmo · t v1 · run 4", "Olmo · t v1 · run 9", "Gemma · t v1"]

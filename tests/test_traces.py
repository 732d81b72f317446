"""Every answer traceable: GET /api/runs/{run_id}/results/{record_id} says what was sent (exactly the
request the model's server received, zero- and few-shot, also after a golden answer is corrected),
what came back, and what it cost; an answer cut off at max_tokens is `truncated`."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from testkit.fake_openai import FakeOpenAIServer, answer_for
from testkit.synthetic import generate_candidates
from workbench.domain.models import build_model
from workbench.domain.outputs import INVALID_JSON, ParsedOutput, parse_output
from workbench.domain.tasks import CANDIDATE_SCREENING
from workbench.providers.completion import read_completion
from workbench.providers.completion import judged_finish
from workbench.runner.examples import freeze_examples, run_examples
from workbench.runner.manager import RunManager
from workbench.runner.options import RunOptions
from workbench.service.runs import start_runs
from workbench.store.datasets import import_dataset
from workbench.store.models import save_model
from workbench.store.runs import get_run
from workbench.store.schema import records
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"
# Ids a path has to carry: separators, escapes, a query and a fragment, spaces, Unicode.
ODD_IDS = ["a/b/c", "50%25 off", "what?x=1&y=2", "#top", "with space", "ünï 日本 ✓", "..", ".", "plain"]
PRICE_IN, PRICE_OUT = 2.5, 10.0  # per 1M tokens


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as s:
        yield s


@pytest.fixture
def dataset(store, tmp_path):
    """Candidates with odd ids; the first two carry a golden answer (few-shot examples)."""
    path = tmp_path / "odd.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, (record_id, record) in enumerate(zip(ODD_IDS, generate_candidates(len(ODD_IDS)), strict=True)):
            record["id"] = record_id
            if i < 2:
                record["golden_answer"] = json.loads(answer_for(f"golden {i}", "gold", None))
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return import_dataset(store, path, name="odd", id_field="id").id


@pytest.fixture
def model(store, server):
    save_model(store, build_model({"id": "fake", "provider": "openai", "base_url": server.base_url,
                                   "model": "fake-model", "max_concurrency": 2, "price_in": PRICE_IN,
                                   "price_out": PRICE_OUT, "params": {"max_tokens": 300}}))
    return "fake"


@pytest.fixture
def client(settings, store):
    with TestClient(create_app(settings, store=store, execute_runs=False), headers=CLIENT, base_url=LOCAL) as c:
        yield c


def run_to_end(store, dataset_id, model_id, **options):
    [run] = start_runs(store, dataset_id, [model_id], options=RunOptions(**options))
    asyncio.run(asyncio.wait_for(RunManager(store).execute([run.id]), 120))
    run = get_run(store, run.id)
    assert run.status == "completed", run.status_reason
    return run


def trace_url(run_id, record_id):
    """As trace.js asks: the id as one path segment; the dot segments, which URLs resolve away, as a query."""
    if record_id in (".", ".."):
        return f"/api/runs/{run_id}/results/?record_id={quote(record_id, safe='')}"
    return f"/api/runs/{run_id}/results/{quote(record_id, safe='')}"


def trace(client, run_id, record_id):
    response = client.get(trace_url(run_id, record_id))
    assert response.status_code == 200, response.text
    return response.json()


def sent_bodies(server) -> dict[str, dict]:
    """The request bodies the server received, by their last user message."""
    return {body["messages"][-1]["content"]: body for body in server.fake.recent_bodies}


def assert_trace_is_what_was_sent(client, server, run, record_ids):
    bodies = sent_bodies(server)
    for record_id in record_ids:
        got = trace(client, run.id, record_id)
        assert got["record_id"] == record_id
        body = bodies[got["messages"][-1]["content"]]
        assert got["messages"] == body["messages"]  # exactly what the server received, in order
        assert got["error"] is None and got["finish_reason"] == "stop" and got["status"] == "ok"
        assert got["output"] == json.loads(got["raw_text"])
        assert got["tokens_in"] > 0 and got["tokens_out"] > 0 and got["latency_ms"] > 0
        assert got["attempts"] == 1 and got["cached"] is False
        assert got["cost"] == pytest.approx((got["tokens_in"] * PRICE_IN + got["tokens_out"] * PRICE_OUT) / 1e6)
        assert got["model"] == {"id": "fake", "name": "fake", "provider": "openai", "model": "fake-model"}
        assert got["task"] == {"name": run.task_name, "version": run.task_version}


def test_a_zero_shot_trace_is_the_request_sent(store, dataset, model, server, client):
    server.reset_stats()
    run = run_to_end(store, dataset, model)
    assert server.total == len(ODD_IDS)
    assert_trace_is_what_was_sent(client, server, run, ODD_IDS)
    for body in server.fake.recent_bodies:
        assert [m["role"] for m in body["messages"]] == ["system", "user"]
    # The run's cost is the sum of its answers' costs: one rule, the run's model prices.
    costs = [trace(client, run.id, record_id)["cost"] for record_id in ODD_IDS]
    assert get_run(store, run.id).cost == pytest.approx(sum(costs))


def test_a_few_shot_trace_is_the_request_sent_also_after_a_golden_answer_changes(store, dataset, model, server,
                                                                                  client):
    server.reset_stats()
    run = run_to_end(store, dataset, model, few_shot=2, fresh=True)
    assert [example[0] for example in run.options["examples"]] == ODD_IDS[:2]  # frozen as the run started
    listed = client.get(f"/api/runs/{run.id}").json()["options"]["examples"]
    assert listed == ODD_IDS[:2]  # a run's listing names its examples; the trace shows them whole
    assert_trace_is_what_was_sent(client, server, run, ODD_IDS)
    bodies = sent_bodies(server)
    shown = {record_id: len(bodies[trace(client, run.id, record_id)["messages"][-1]["content"]]["messages"])
             for record_id in ODD_IDS}
    # System, the examples (a user and an assistant message each), the record; never a record as its own example.
    assert shown == {record_id: 4 if record_id in ODD_IDS[:2] else 6 for record_id in ODD_IDS}
    # A golden answer corrected after the run: the trace still says what was sent.
    before = {record_id: trace(client, run.id, record_id)["messages"] for record_id in ODD_IDS}
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(records.c.data).where(records.c.dataset_id == dataset,
                                                           records.c.record_id == ODD_IDS[0])).scalar_one()
        data = orjson.loads(row)
        data["golden_answer"]["reasoning"] = "corrected later"
        conn.execute(records.update().where(records.c.dataset_id == dataset, records.c.record_id == ODD_IDS[0])
                     .values(data=orjson.dumps(data).decode()))
    assert {record_id: trace(client, run.id, record_id)["messages"] for record_id in ODD_IDS} == before
    assert "corrected later" not in json.dumps(before)


def test_examples_are_frozen_when_a_run_first_starts_and_kept_on_resume(store, dataset, model):
    [run] = start_runs(store, dataset, [model], options=RunOptions(few_shot=2, limit=1))
    assert "examples" not in run.options or run.options["examples"] is None  # chosen by id, not yet frozen
    first = freeze_examples(store, run)
    assert [e[0] for e in first] == ODD_IDS[:2]
    with store.engine.begin() as conn:  # the golden answer corrected, as after a review
        data = orjson.loads(conn.execute(sa.select(records.c.data).where(
            records.c.dataset_id == dataset, records.c.record_id == ODD_IDS[1])).scalar_one())
        data["golden_answer"]["reasoning"] = "corrected"
        conn.execute(records.update().where(records.c.dataset_id == dataset, records.c.record_id == ODD_IDS[1])
                     .values(data=orjson.dumps(data).decode()))
    resumed = get_run(store, run.id)
    assert freeze_examples(store, resumed) == first == run_examples(store, resumed)
    assert freeze_examples(store, run) == first  # a stale copy of the run (another process) finds them too
    assert run_examples(store, run)[1][2]["reasoning"] == "corrected"  # unfrozen: as the examples are now


def test_a_cached_answer_says_so(store, dataset, model, server, client):
    first = run_to_end(store, dataset, model, limit=2)
    server.reset_stats()
    again = run_to_end(store, dataset, model, limit=2)
    assert again.id != first.id and server.total == 0
    got = trace(client, again.id, ODD_IDS[0])
    assert got["cached"] is True and got["attempts"] == 0 and got["latency_ms"] is None
    assert got["messages"] == trace(client, first.id, ODD_IDS[0])["messages"]
    assert got["raw_text"] is not None and json.loads(got["raw_text"]) == got["output"]


def test_an_answer_cut_at_max_tokens_is_truncated(store, dataset, model, server, client):
    server.config.update({"length_rate": 1.0})
    try:
        run = run_to_end(store, dataset, model, fresh=True, limit=3)
    finally:
        server.config.update({"length_rate": 0.0})
    assert run.errors == 3
    got = trace(client, run.id, ODD_IDS[1])
    assert got["status"] == "error" and got["finish_reason"] == "length"
    assert got["error"] == {"kind": "truncated", "message": "the answer was cut off at max_tokens (300 tokens); "
                                                            "raise Max tokens in the Models dialog"}
    assert got["raw_text"] and got["output"] is None and got["messages"]
    errors = client.get(f"/api/runs/{run.id}").json()
    assert errors["errors"] == 3


def test_a_whole_answer_stopped_at_max_tokens_stays_ok(store, dataset, model, server, client):
    server.config.update({"length_rate": 1.0, "length_whole": True})
    try:
        run = run_to_end(store, dataset, model, fresh=True, limit=2)
    finally:
        server.config.update({"length_rate": 0.0, "length_whole": False})
    assert run.errors == 0
    got = trace(client, run.id, ODD_IDS[0])
    assert got["status"] == "ok" and got["error"] is None and got["finish_reason"] == "length"


def test_the_parse_step_tells_truncated_from_invalid_json():
    task = CANDIDATE_SCREENING
    cut = parse_output('{"recommendation": "Yes", "trajec', task)
    assert cut.error_kind == INVALID_JSON
    judged = judged_finish(cut, "length", 512)
    assert judged.error_kind == "truncated" and "max_tokens (512 tokens)" in (judged.error_message or "")
    assert judged_finish(cut, "stop", 512) == cut  # not cut off: the parse error stands
    assert judged_finish(cut, None, 512) == cut
    ok = ParsedOutput({"x": 1})
    assert judged_finish(ok, "length", 512) == ok  # it parses and validates: ok, finish_reason kept apart
    # The envelope's finish_reason is read; a hostile one is no reason at all.
    envelope: dict[str, Any] = {"choices": [{"message": {"content": "hi"}, "finish_reason": "length"}]}
    assert read_completion(orjson.dumps(envelope)).finish_reason == "length"
    for hostile in (None, 3, ["length"], {"a": 1}):
        envelope["choices"][0]["finish_reason"] = hostile
        assert read_completion(orjson.dumps(envelope)).finish_reason is None


def test_not_found_and_hostile_ids(store, dataset, model, server, client):
    run = run_to_end(store, dataset, model, limit=2)
    assert client.get(f"/api/runs/{run.id}/results/nope").status_code == 404
    assert client.get(f"/api/runs/{run.id}/results/{quote(ODD_IDS[-1])}").status_code == 404  # no result yet
    assert client.get(f"/api/runs/{run.id + 1000}/results/plain").status_code == 404
    for bad in ("-1", "abc", "1.5", "99999999999999999999999", "9223372036854775808", "%00"):
        status = client.get(f"/api/runs/{bad}/results/plain").status_code
        assert 400 <= status < 500 and status != 405, (bad, status)
    for odd in ("%00", "x%FFy", "a" * 5000):
        status = client.get(f"/api/runs/{run.id}/results/{odd}").status_code
        assert 400 <= status < 500, (odd, status)
    assert client.get(f"/api/runs/{run.id}/results/").status_code in (404, 422)



def test_test_connection_says_an_answer_was_cut_off(store, server):
    from workbench.providers.probe import test_connection

    config = build_model({"id": "cut", "provider": "openai", "base_url": server.base_url, "model": "m",
                          "params": {"max_tokens": 16}})
    record = next(generate_candidates(1))
    server.config.update({"length_rate": 1.0})
    try:
        result = asyncio.run(test_connection(config, CANDIDATE_SCREENING, record))
    finally:
        server.config.update({"length_rate": 0.0})
    assert not result.ok and result.finish_reason == "length"
    assert result.error == "the answer was cut off at max_tokens (16 tokens); raise Max tokens in the Models dialog"
    assert len(result.attempts) == 1  # another structured-output form would not have helped

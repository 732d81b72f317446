"""Hostile model answers: any shape or size ends that record in a typed error, never the run.

Against the fake OpenAI server on loopback (testkit/fake_openai.py, its HOSTILE modes):
no worker dies silently, one unsaveable answer never pauses another run, deleting a dataset
stops only its own runs, and huge answers are capped (read, kept and parsed within bounds).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from testkit.fake_openai import HOSTILE, FakeOpenAIServer, FaultConfig
from workbench.domain.models import ModelConfig, build_model
from workbench.domain.outputs import RAW_TEXT_CAP, extract_json_object, keep_raw, parse_output
from testkit.synthetic import write_jsonl
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.providers.base import ProviderError, Request
from workbench.providers.completion import MAX_TOKEN_COUNT, read_completion
from workbench.runner import executor as executor_module
from workbench.runner.options import RunOptions
from workbench.runner.manager import RunManager
from workbench.service.runs import start_runs
from workbench.runner.writer import ResultWriter
from workbench.store.datasets import delete_dataset, import_dataset
from workbench.store.models import save_model
from workbench.store.results import ResultRow, run_results
from workbench.store.runs import RunNotFound, create_run, get_run, list_runs
from workbench.store.schema import results
from workbench.store.tasks import get_task

RUN_LIMIT_S = 120  # a run that hangs fails the test instead of hanging it
KIND = {"deep_json": "invalid_json", "huge_answer": "truncated", "nul_content": "invalid_json"}  # the rest: invalid_response


@pytest.fixture
def dataset(store, tmp_path):
    def make(count: int, name: str = "cands") -> str:
        path = tmp_path / f"{name}.jsonl"
        write_jsonl(path, count)
        return import_dataset(store, path, name=name).id

    return make


def add_model(store, server, model_id="fake", **extra) -> str:
    save_model(store, build_model({"id": model_id, "provider": "openai", "base_url": server.base_url,
                                   "model": f"{model_id}-model", "max_concurrency": 4, **extra}))
    return model_id


def execute(store, run_ids, during=None):
    """Run to the end in this process (with ``during(manager)`` alongside), within RUN_LIMIT_S."""
    async def main():
        manager = RunManager(store)
        work = asyncio.create_task(manager.execute(run_ids))
        side = asyncio.create_task(during(manager)) if during else None
        final = await asyncio.wait_for(work, RUN_LIMIT_S)
        if side:
            await asyncio.wait_for(side, RUN_LIMIT_S)
        return final

    return asyncio.run(main())


def one_result_per_record(store, run_id):
    run = get_run(store, run_id)
    rows = run_results(store, run_id)
    assert sorted(r["seq"] for r in rows) == list(range(1, run.total + 1))
    assert (run.done, run.errors) == (run.total, sum(r["status"] == "error" for r in rows))
    return run, rows


@pytest.mark.parametrize("mode", [m for m in HOSTILE if m != "huge_answer"])
def test_each_hostile_answer_is_its_records_error_and_the_run_completes(store, dataset, mode):
    ds = dataset(40)
    with FakeOpenAIServer(FaultConfig(**{f"{mode}_rate": 0.5}, seed=7)) as server:
        model = add_model(store, server)
        [run] = start_runs(store, ds, [model])
        final = execute(store, [run.id])
        hostile = server.outcomes[mode]
    assert final == {run.id: "completed"} and 0 < hostile < 40
    run, rows = one_result_per_record(store, run.id)
    errors = [r for r in rows if r["status"] == "error"]
    assert len(errors) == hostile  # each hostile answer, and nothing else, is an error
    assert {r["error_kind"] for r in errors} == {KIND.get(mode, "invalid_response")}
    assert all(r["raw_text"] and r["attempts"] == 1 for r in errors)  # what the server said is kept
    assert all(0 <= r["tokens_in"] <= MAX_TOKEN_COUNT and 0 <= r["tokens_out"] <= MAX_TOKEN_COUNT for r in rows)


def _cli(data: str):
    """`workbench ARGS --data-dir DATA` as a subprocess, bounded in time."""
    def workbench(*args):
        return subprocess.run([sys.executable, "-m", "workbench", *args, "--data-dir", data],
                              capture_output=True, text=True, timeout=RUN_LIMIT_S, env=os.environ.copy())

    return workbench


def test_workbench_run_with_a_timeout_ends_on_hostile_answers(tmp_path):
    """The CLI as a subprocess: `workbench run --timeout` ends (it used to hang at 0/N)."""
    data = str(tmp_path / "cli-data")
    source = tmp_path / "c.jsonl"
    write_jsonl(source, 12)

    workbench = _cli(data)

    assert workbench("import", str(source), "--name", "cands").returncode == 0
    faults = FaultConfig(content_not_text_rate=0.4, bad_usage_rate=0.2, bad_token_counts_rate=0.2, seed=2)
    with FakeOpenAIServer(faults) as server:
        assert workbench("models", "add", "m", "--provider", "openai", "--base-url", server.base_url,
                         "--model", "m").returncode == 0
        done = workbench("run", "--dataset", "cands", "--model", "m", "--timeout", "5")
        hostile = sum(server.outcomes[m] for m in HOSTILE)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and hostile > 0
    assert f"completed — 12/12 done, {hostile} errors" in done.stderr


@pytest.mark.parametrize("mode", list(HOSTILE))
def test_test_connection_reports_a_hostile_answer(settings, store, mode):
    faults = FaultConfig(**{f"{mode}_rate": 1.0}, huge_answer_bytes=6 * 1024 * 1024)
    with FakeOpenAIServer(faults) as server, \
            TestClient(_app(settings, store), headers={"X-Workbench-Client": "tests"},
                       base_url="http://localhost") as client:
        add_model(store, server, structured_output="prompt")
        answer = client.post("/api/models/fake/test")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["ok"] is False and report["error"]
    assert len(report["raw_text"].encode()) <= RAW_TEXT_CAP


def _app(settings, store):
    from workbench.web.app import create_app

    return create_app(settings, store=store)


def test_deleting_a_dataset_mid_run_stops_only_its_own_run(store, dataset):
    kept, doomed = dataset(300, "kept"), dataset(300, "doomed")
    with FakeOpenAIServer(FaultConfig(latency_ms=5)) as server:
        model = add_model(store, server)
        [run_a] = start_runs(store, kept, [model])
        [run_b] = start_runs(store, doomed, [model])

        async def delete_doomed_mid_run(manager):
            while len(run_results(store, run_b.id)) < 20:
                await asyncio.sleep(0.02)
            await asyncio.to_thread(delete_dataset, store, doomed)

        final = execute(store, [run_a.id, run_b.id], during=delete_doomed_mid_run)
    assert final == {run_a.id: "completed", run_b.id: "cancelled"}
    one_result_per_record(store, run_a.id)
    with pytest.raises(RunNotFound):
        get_run(store, run_b.id)
    assert list_runs(store, dataset_id=doomed) == []
    with store.engine.connect() as conn:  # nothing of the deleted run was written after it went
        assert conn.execute(sa.select(sa.func.count()).where(results.c.run_id == run_b.id)).scalar() == 0


def test_an_unsaveable_answer_never_pauses_another_run(store, dataset):
    """Valid JSON nested 300 deep (orjson reads it, can't write it back) on one model's server."""
    ds = dataset(60)
    with FakeOpenAIServer(FaultConfig(deep_json_rate=0.3, seed=5)) as bad, FakeOpenAIServer() as good:
        runs = start_runs(store, ds, [add_model(store, bad, "bad"), add_model(store, good, "good")])
        final = execute(store, [r.id for r in runs])
        deep = bad.outcomes["deep_json"]
    assert set(final.values()) == {"completed"} and deep > 0
    _, bad_rows = one_result_per_record(store, runs[0].id)
    _, good_rows = one_result_per_record(store, runs[1].id)
    assert [r["error_kind"] for r in bad_rows if r["status"] == "error"] == ["invalid_json"] * deep
    assert all(r["status"] == "ok" for r in good_rows)


class _Source:
    """A run as the writer sees it, for feeding it rows the store refuses."""

    def __init__(self, run):
        self.run_id, self.run = run.id, run
        self.done = self.errors = self.tokens_in = self.tokens_out = 0
        self.failures: list[str] = []
        self.replaced = 0

    def snapshot(self):
        return {"run_id": self.run_id, "model_id": self.run.model_id, "dataset_id": self.run.dataset_id,
                "status": "running", "total": self.run.total, "done": self.done, "errors": self.errors,
                "tokens_in": self.tokens_in, "tokens_out": self.tokens_out, "cost": 0.0, "active_seconds": 0.0}

    def storage_failed(self, exc):
        self.failures.append(f"storage: {exc}")

    def internal_failure(self, where, exc):
        self.failures.append(f"{where}: {exc}")

    def run_gone(self):
        self.failures.append("gone")

    def result_replaced(self, old, new):
        self.replaced += 1
        self.errors += 1


def _row(seq, **changes):
    values = dict(seq=seq, record_id=f"cand-{seq:06d}", status="ok", output={"recommendation": "Yes"},
                  error_kind=None, error_message=None, raw_text=None, latency_ms=1.0, tokens_in=1, tokens_out=1,
                  attempts=1, cached=False)
    return ResultRow(**(values | changes))


@pytest.mark.parametrize("bad", [
    {"output": {"recommendation": "\ud800"}},  # a lone surrogate: orjson refuses it
    {"output": {"x": 2**70}},  # beyond 64 bits: orjson refuses it
    {"tokens_in": 2**70},  # the database refuses it
    {"status": "error", "output": None, "error_kind": "invalid_json", "raw_text": "bad \udcff text"},
])
def test_the_writer_saves_a_refused_row_as_its_error_and_the_rest_as_they_are(store, dataset, bad):
    ds = dataset(3)
    task = get_task(store, TASK.name)
    model = ModelConfig(id="m", provider="baseline")
    one, two = (create_run(store, dataset_id=ds, model=model, task_name=task.name, task_version=task.version,
                           total=3, options={}) for _ in range(2))
    first, second = _Source(one), _Source(two)

    async def main():
        writer = ResultWriter(store)
        first.done = 1
        writer.add(first, _row(1))
        second.done = 3
        for row in (_row(1), _row(2, **bad), _row(3)):
            writer.add(second, row)
        await writer.flush()

    asyncio.run(main())
    assert first.failures == second.failures == [] and second.replaced == 1
    assert [r["status"] for r in run_results(store, one.id)] == ["ok"]
    rows = run_results(store, two.id)
    assert [(r["seq"], r["status"]) for r in rows] == [(1, "ok"), (2, "error"), (3, "ok")]
    assert rows[1]["error_kind"] == "invalid_response" and "could not be saved" in rows[1]["error_message"]
    assert (get_run(store, two.id).done, get_run(store, two.id).errors) == (3, 1)  # the counters follow


def test_answers_holding_nul_are_their_records_errors_and_the_grid_still_answers(settings, store, dataset):
    """U+0000 (which PostgreSQL's text and jsonb refuse) in prose and inside a valid answer's string:
    each such answer is its record's invalid_json error, its raw text kept with U+FFFD instead;
    the run completes, and the grid's filters that read answers in SQL still answer."""
    ds = dataset(40)
    with FakeOpenAIServer(FaultConfig(nul_content_rate=0.5, seed=3)) as server:
        runs = start_runs(store, ds, [add_model(store, server, "one"), add_model(store, server, "two")])
        final = execute(store, [r.id for r in runs])
        nul = server.outcomes["nul_content"]
    assert set(final.values()) == {"completed"} and nul > 2
    errors = []
    for run in runs:
        errors += [r for r in one_result_per_record(store, run.id)[1] if r["status"] == "error"]
    assert len(errors) == nul and {r["error_kind"] for r in errors} == {"invalid_json"}
    assert all("\x00" not in (r["raw_text"] + r["error_message"]) for r in errors)
    assert any("\ufffd" in r["raw_text"] for r in errors)  # the prose, kept as it can be stored
    with TestClient(_app(settings, store), headers={"X-Workbench-Client": "tests"},
                    base_url="http://localhost") as client:
        for query in ({"filter": "differences"}, {"filter": "differences", "diff_field": "recommendation"},
                      {"verdict": "one:recommendation=Yes"}, {"sort": "disagreement"}):
            answer = client.get("/api/workbench", params={"dataset_id": ds, "models": "one,two", **query})
            assert answer.status_code == 200, (query, answer.text)


def test_a_row_whose_error_is_refused_too_is_saved_as_a_bare_error(store, dataset, monkeypatch):
    """The writer's row-by-row fallback never gives up on a row: when even the error it becomes is
    refused, a bare error (no text from outside) is saved; the run goes on."""
    from workbench.runner import writer as writer_module

    ds = dataset(3)
    task = get_task(store, TASK.name)
    run = create_run(store, dataset_id=ds, model=ModelConfig(id="m", provider="baseline"), task_name=task.name,
                     task_version=task.version, total=3, options={})
    source = _Source(run)
    monkeypatch.setattr(writer_module, "unsaveable_result", lambda row, exc: row)  # an error refused as well

    async def main():
        writer = ResultWriter(store)
        source.done = 3
        for row in (_row(1), _row(2, status="error", output=None, error_kind="http", tokens_in=2**70,
                                 raw_text="abc\x00"), _row(3)):
            writer.add(source, row)
        await writer.flush()

    asyncio.run(main())
    assert source.failures == [] and source.replaced == 1
    rows = run_results(store, run.id)
    assert [(r["seq"], r["status"]) for r in rows] == [(1, "ok"), (2, "error"), (3, "ok")]
    assert rows[1]["raw_text"] is None and rows[1]["error_message"] == "the answer could not be saved"


def test_a_run_whose_figures_cant_be_taken_fails_and_its_results_are_kept(store, dataset):
    """snapshot() raising: the run fails saying why, its queued results are saved (not left queued
    forever or dropped), and once it ends the writer keeps nothing of it."""
    ds = dataset(3)
    task = get_task(store, TASK.name)
    run = create_run(store, dataset_id=ds, model=ModelConfig(id="m", provider="baseline"), task_name=task.name,
                     task_version=task.version, total=3, options={})
    source = _Source(run)
    taken = source.snapshot

    def snapshot():
        if source.done > 1:
            raise ZeroDivisionError("a bug")
        return taken()

    source.snapshot = snapshot

    async def main():
        writer = ResultWriter(store)
        source.done = 1
        writer.add(source, _row(1), ("key-1", "{}", 1, 1))
        await writer.flush()
        source.done = 3
        writer.add(source, _row(2), ("key-2", "{}", 1, 1))
        writer.add(source, _row(3))
        await writer.flush()
        kept = (writer._rows, writer._cache, writer._dirty, writer._pending)
        writer.forget(run.id)
        return kept, (writer._sources, writer._gone, writer._progress)

    kept, known = asyncio.run(main())
    assert source.failures == ["taking its figures: a bug"]
    assert kept == ({}, {}, set(), 0) and known == ({}, set(), {})
    assert [r["seq"] for r in run_results(store, run.id)] == [1, 2, 3]  # every finished result saved once


def test_a_huge_answer_is_cut_off_unread_and_kept_capped(store, dataset):
    ds = dataset(6)
    size = 50 * 1024 * 1024
    with FakeOpenAIServer(FaultConfig(huge_answer_rate=1.0, huge_answer_bytes=size)) as server:
        [run] = start_runs(store, ds, [add_model(store, server)])
        final = execute(store, [run.id])
        sent = server.stats()["bytes_sent"]
    assert final == {run.id: "completed"}
    _, rows = one_result_per_record(store, run.id)
    assert {r["error_kind"] for r in rows} == {"truncated"}
    for row in rows:
        assert len(row["raw_text"].encode()) <= RAW_TEXT_CAP
        assert row["raw_text"].endswith(" bytes]") and "… [truncated: " in row["raw_text"]
    assert sent < 6 * size / 3  # the client stopped reading each answer near its 4 MiB cap


def test_big_answers_within_a_raised_cap_are_parsed_off_the_loop(store, dataset, monkeypatch, tmp_path):
    """A model allowing 8 MiB answers, sent 6 MiB ones (prose before the JSON): they are read and
    parsed in threads, by a run and by "Test connection" alike."""
    ds = dataset(5)
    on_loop: list[tuple[str, int]] = []

    seen: list[tuple[str, int]] = []

    def spy(name, function):
        def watched(payload, *args, **kwargs):
            seen.append((name, len(payload)))
            if threading.current_thread() is threading.main_thread():
                on_loop.append((name, len(payload)))
            return function(payload, *args, **kwargs)
        return watched

    from workbench.domain import outputs
    from workbench.providers import openai
    from workbench.providers.probe import test_connection

    monkeypatch.setattr(openai, "read_completion", spy("read_completion", openai.read_completion))
    monkeypatch.setattr(outputs, "parse_output", spy("parse_output", outputs.parse_output))
    with FakeOpenAIServer(FaultConfig(huge_answer_rate=1.0, huge_answer_bytes=6 * 1024 * 1024)) as server:
        model = build_model({"id": "big", "provider": "openai", "base_url": server.base_url, "model": "big",
                             "max_response_bytes": 8 * 1024 * 1024})
        task = get_task(store, TASK.name)
        run = create_run(store, dataset_id=ds, model=model, task_name=task.name, task_version=task.version,
                         total=5, options=RunOptions().to_dict())
        final = execute(store, [run.id])
        record = json.loads((tmp_path / "cands.jsonl").read_text().splitlines()[0])
        probed = asyncio.run(test_connection(model, task, record))  # "Test connection"
    assert final == {run.id: "completed"}
    _, rows = one_result_per_record(store, run.id)
    assert all(r["status"] == "ok" for r in rows)
    assert probed.ok, probed.error
    assert len([n for name, n in seen if name == "parse_output" and n > 4 * 1024 * 1024]) == 6  # 5 + the probe
    assert [(name, n) for name, n in on_loop if n > 256 * 1024] == []  # nothing big parsed on the loop


def test_a_workers_own_failure_fails_the_run_with_its_reason(store, dataset, monkeypatch):
    ds = dataset(20)

    def broken(self, row, cache_entry=None):
        raise RuntimeError("a bug of the runner's")

    monkeypatch.setattr(executor_module.RunExecutor, "_record", broken)
    with FakeOpenAIServer() as server:
        [run] = start_runs(store, ds, [add_model(store, server)])
        final = execute(store, [run.id])
    run = get_run(store, run.id)
    assert final == {run.id: "failed"} and run.status == "failed"
    assert "RuntimeError: a bug of the runner's" in run.status_reason


def test_a_producer_failure_fails_the_run_with_its_reason(store, dataset, monkeypatch):
    ds = dataset(20)

    def broken(*args, **kwargs):
        raise KeyError("no such page")

    monkeypatch.setattr(executor_module, "pending_records", broken)
    with FakeOpenAIServer() as server:
        [run] = start_runs(store, ds, [add_model(store, server)])
        final = execute(store, [run.id])
    run = get_run(store, run.id)
    assert final == {run.id: "failed"} and "no such page" in run.status_reason


def test_a_provider_raising_anything_is_that_records_error(store, dataset, monkeypatch, caplog):
    from workbench.providers.openai import OpenAIProvider

    ds = dataset(30)
    original = OpenAIProvider.generate
    calls = []

    async def flaky(self, request, mode=None):
        calls.append(1)
        if len(calls) % 3 == 0:
            raise AttributeError("'int' object has no attribute 'strip'")
        return await original(self, request, mode)

    monkeypatch.setattr(OpenAIProvider, "generate", flaky)
    with FakeOpenAIServer() as server, caplog.at_level(logging.DEBUG, logger=executor_module.__name__):
        [run] = start_runs(store, ds, [add_model(store, server)])
        final = execute(store, [run.id])
    assert final == {run.id: "completed"}
    _, rows = one_result_per_record(store, run.id)
    assert [r["error_kind"] for r in rows if r["status"] == "error"] == ["invalid_response"] * 10
    # The same bug on ten records: its traceback logged once, the rest at most a line each.
    assert len([r for r in caplog.records if r.exc_info]) == 1
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_local_and_baseline_providers_turn_any_failure_into_a_typed_error(monkeypatch, tmp_path):
    from workbench.providers import baseline, local

    class FakeLlama:
        def __init__(self, answer):
            self.answer = answer

        def create_chat_completion(self, **kwargs):
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    config = ModelConfig(id="l", provider="local", model=str(tmp_path / "m.gguf"))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    request = Request(messages=[{"role": "user", "content": "hi"}])
    for answer in (RuntimeError("llama_decode returned -3"), {"choices": [{"message": {"content": {"a": 1}}}]},
                   {"choices": []}, "not a dict", {"choices": [{"message": {"content": "{}"}}], "usage": "x"}):
        monkeypatch.setattr(local, "_load", lambda *a, llm=FakeLlama(answer): (llm, threading.Lock()))
        with pytest.raises(ProviderError) as caught:
            asyncio.run(local.LocalProvider(config).generate(request))
        assert caught.value.kind == "invalid_response"

    monkeypatch.setattr(baseline, "score_candidate", lambda record: record["missing"])
    with pytest.raises(ProviderError) as caught:
        asyncio.run(baseline.BaselineProvider(ModelConfig(id="b", provider="baseline")).generate(
            Request(messages=[], record={})))
    assert caught.value.kind == "invalid_response"


# ---- properties: the provider's reading and the answer's parsing take anything -------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
ENVELOPES = st.one_of(
    JSON,
    st.builds(lambda content, usage, extra: {"choices": [{"message": {"content": content}}], "usage": usage, **extra},
              JSON, JSON, st.dictionaries(st.text(max_size=8), JSON, max_size=2)),
    st.builds(lambda choices, usage: {"choices": choices, "usage": usage}, JSON, JSON),
    st.builds(lambda a, b: {"choices": [{"message": {"content": "{}"}}], "usage": {"prompt_tokens": a,
                                                                                     "completion_tokens": b}},
              JSON, JSON),
)


def _encode(value) -> bytes:
    return json.dumps(value).encode()  # json, not orjson: it writes beyond-64-bit integers too


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(ENVELOPES.map(_encode), st.binary(max_size=200)))
def test_reading_any_envelope_gives_a_generation_or_a_provider_error(payload):
    try:
        generation = read_completion(payload)
    except ProviderError as exc:
        assert exc.kind in ("http", "invalid_response")
        assert exc.raw_text is None or len(exc.raw_text.encode()) <= RAW_TEXT_CAP
        return
    assert isinstance(generation.text, str)
    for count in (generation.input_tokens, generation.output_tokens):
        assert type(count) is int and 0 <= count <= MAX_TOKEN_COUNT


TEXTS = st.one_of(
    st.text(st.characters(codec=None), max_size=200),  # lone surrogates included
    JSON.map(lambda value: _encode(value).decode()),
    st.integers(1, 400).map(lambda depth: '{"recommendation": ' + "[" * depth + "]" * depth + "}"),
    st.lists(st.sampled_from(["{", "}", '"', "\\", "x", ":", ",", '{"a":1}']), max_size=60).map("".join),
)


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_parsing_any_answer_gives_a_value_or_a_typed_error(text):
    parsed = parse_output(text, TASK)
    assert parsed.error_kind in (None, "invalid_json", "schema_violation", "invalid_response")
    if parsed.value is not None:
        orjson.dumps(parsed.value)  # what parsing lets through, the store can write


@hsettings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec=None), max_size=300), st.integers(64, 400), st.integers(0, 10**9))
def test_kept_raw_text_is_valid_and_within_its_cap(text, cap, unread):
    kept = keep_raw(text, cap=cap, unread=unread)
    assert len(kept.encode("utf-8")) <= cap and "\x00" not in kept  # encodes: no lone surrogate, no NUL left
    whole = text.encode("utf-8", "replace").decode().replace("\x00", "\ufffd")
    if unread or len(whole.encode("utf-8")) > cap:
        assert kept.endswith(" bytes]") and "… [truncated: " in kept
    else:
        assert kept == whole


@pytest.mark.parametrize("junk", ["Here it is: {not json} ", "{x} ", '{"a" b} ', "{[1]} ", 'say "{" or "}" ', "} "])
def test_the_extraction_budget_still_finds_an_object_after_junk(junk):
    """The budget that keeps extraction linear on hostile braces is wide enough for real answers:
    the object after 20 KB of prose full of braces that aren't JSON is still found."""
    text = junk * (20_000 // len(junk))
    assert extract_json_object(f'{text} {{"a": 1}}') == {"a": 1}
    assert extract_json_object(f'{text}\n```json\n{{"a": {{"b": "}}"}}}}\n```') == {"a": {"b": "}"}}


def test_workbench_run_says_so_when_its_dataset_is_deleted_mid_run(tmp_path):
    """`workbench run` whose dataset another process deletes: it ends, saying why, without a
    traceback (before: "error: no run 1" from the summary's look-up)."""
    data = str(tmp_path / "cli-data")
    source = tmp_path / "c.jsonl"
    write_jsonl(source, 200)

    workbench = _cli(data)

    assert workbench("import", str(source), "--name", "cands").returncode == 0
    with FakeOpenAIServer(FaultConfig(latency_ms=100)) as server:
        assert workbench("models", "add", "m", "--provider", "openai", "--base-url", server.base_url,
                         "--model", "m", "--concurrency", "1").returncode == 0
        run = subprocess.Popen([sys.executable, "-m", "workbench", "run", "--dataset", "cands", "--model", "m",
                                "--data-dir", data], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=os.environ.copy())
        deadline = time.monotonic() + RUN_LIMIT_S
        while server.stats()["total"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert workbench("datasets", "delete", "cands").returncode == 0
        _, err = run.communicate(timeout=RUN_LIMIT_S)
    assert "Traceback" not in err
    assert "cancelled (its dataset was deleted while it ran)" in err, err

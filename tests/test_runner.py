"""The runner against a real HTTP server on loopback with switchable faults."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from testkit.fake_openai import FakeOpenAIServer, FaultConfig, prompt_key
from workbench.domain.models import build_model
from testkit.synthetic import write_jsonl
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.runner.options import RunOptions
from workbench.runner.limits import RateLimiter, backoff_delay
from workbench.runner.manager import RunManager
from workbench.service.runs import start_runs
from workbench.store.datasets import import_dataset, iter_records
from workbench.store.models import save_model
from workbench.store.results import events_after, run_results
from workbench.store.runs import clear_errors, get_run, request_state


@pytest.fixture
def dataset(store, tmp_path):
    def make(count: int) -> str:
        path = tmp_path / f"cands-{count}.jsonl"
        write_jsonl(path, count)
        return import_dataset(store, path).id

    return make


def add_model(store, server, model_id="fake", **extra):
    save_model(store, build_model({"id": model_id, "provider": "openai", "base_url": server.base_url,
                                   "model": f"{model_id}-model", "max_concurrency": 16, **extra}))
    return model_id


def execute(store, dataset_id, model_ids, **options):
    runs = start_runs(store, dataset_id, model_ids, options=RunOptions(**options))
    final = asyncio.run(RunManager(store).execute([r.id for r in runs]))
    return [get_run(store, r.id) for r in runs], final


def assert_one_terminal_result_per_record(store, run):
    rows = run_results(store, run.id)
    seqs = [r["seq"] for r in rows]
    assert len(seqs) == len(set(seqs)) == run.total, (len(seqs), len(set(seqs)), run.total)
    assert all(r["status"] in ("ok", "error") for r in rows)
    return rows


def test_a_run_completes_with_one_result_per_record(store, dataset):
    ds = dataset(300)
    with FakeOpenAIServer(FaultConfig(latency_ms=2)) as server:
        model = add_model(store, server, max_concurrency=8, price_in=1.0, price_out=2.0)
        [run], final = execute(store, ds, [model])
        assert server.fake.max_in_flight <= 8
    assert final == {run.id: "completed"} and (run.done, run.errors) == (300, 0)
    rows = assert_one_terminal_result_per_record(store, run)
    assert set(rows[0]["output"] and __import__("orjson").loads(rows[0]["output"])) == set(TASK.field_names)
    assert run.tokens_in > 0 and run.tokens_out > 0
    assert run.cost == pytest.approx((run.tokens_in * 1.0 + run.tokens_out * 2.0) / 1e6)
    events = events_after(store, 0, limit=10_000)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    kinds = Counter(e["type"] for e in events)
    assert kinds["result"] == 300 and kinds["progress"] >= 1 and kinds["run_state"] == 2  # running, completed
    last = [e for e in events if e["type"] == "progress"][-1]
    assert (last["done"], last["total"]) == (300, 300)


def test_faults_end_in_exactly_one_terminal_state(store, dataset):
    """5,000 records × 2 models against 10% 500s, 5% 429s with Retry-After, 5% malformed answers,
    1% hangs and 1% dropped connections: every record ends exactly once, retried where it helps."""
    ds = dataset(5000)
    faults = FaultConfig(error_500_rate=0.10, error_429_rate=0.05, retry_after_s=0.05, malformed_json_rate=0.05,
                         hang_rate=0.01, drop_rate=0.01, seed=3)
    with FakeOpenAIServer(faults) as server:
        models = [add_model(store, server, name, max_concurrency=48) for name in ("gemma", "olmo")]
        runs, final = execute(store, ds, models, timeout_s=0.5)
        outcomes = server.fake.outcomes
        assert server.total > 10_000  # retries happened
        assert outcomes["hang"] > 0 and outcomes["drop"] > 0 and outcomes["error_429"] > 0
    for run in runs:
        assert final[run.id] == "completed"
        rows = assert_one_terminal_result_per_record(store, run)
        kinds = Counter(r["error_kind"] for r in rows if r["status"] == "error")
        # Transport faults were retried (4 attempts at ~17%): only the rare unlucky record stays an error.
        assert kinds.get("http", 0) + kinds.get("timeout", 0) <= 10
        assert kinds["invalid_json"] > 0
        for row in rows:
            if row["error_kind"] == "invalid_json":
                assert row["raw_text"], row  # the raw answer is kept
        assert max(r["attempts"] for r in rows) > 1
        assert run.errors == sum(kinds.values()) and run.done == 5000


def test_schema_violations_are_typed_errors(store, dataset):
    ds = dataset(200)
    with FakeOpenAIServer(FaultConfig(schema_violation_rate=0.2, seed=4)) as server:
        [run], _ = execute(store, ds, [add_model(store, server)])
    rows = assert_one_terminal_result_per_record(store, run)
    violations = [r for r in rows if r["error_kind"] == "schema_violation"]
    assert violations and all(r["raw_text"] and r["error_message"] for r in violations)


def test_a_dead_endpoint_pauses_the_run_and_resume_finishes_it(store, dataset):
    ds = dataset(200)
    with FakeOpenAIServer(FaultConfig(down=True)) as server:
        model = add_model(store, server, max_concurrency=4)
        [run], final = execute(store, ds, [model], timeout_s=2, max_attempts=2)
        assert final[run.id] == "paused" and "endpoint unreachable" in run.status_reason
        assert run.errors == 0  # nothing was burnt as an error
        server.config.down = False
        [resumed], final = execute(store, ds, [model])
    assert resumed.id == run.id and final[run.id] == "completed"
    rows = assert_one_terminal_result_per_record(store, resumed)
    assert all(r["status"] == "ok" for r in rows)


def test_endpoint_dying_mid_run_pauses(store, dataset):
    ds = dataset(400)
    with FakeOpenAIServer(FaultConfig(latency_ms=5)) as server:
        model = add_model(store, server, max_concurrency=4)

        def kill_later():  # once some records are answered (not after a fixed time: a slow start saw none)
            deadline = time.monotonic() + 60
            while server.total < 20 and time.monotonic() < deadline:
                time.sleep(0.005)
            server.config.down = True

        threading.Thread(target=kill_later, daemon=True).start()
        [run], final = execute(store, ds, [model], max_attempts=2)
    assert final[run.id] == "paused" and 0 < run.done < 400 and run.errors == 0


def test_cache_serves_a_rerun_unless_fresh(store, dataset):
    ds = dataset(50)
    with FakeOpenAIServer() as server:
        model = add_model(store, server)
        [first], _ = execute(store, ds, [model])
        assert server.total == 50
        [second], _ = execute(store, ds, [model])
        assert second.id != first.id and second.done == 50 and server.total == 50
        assert all(r["cached"] for r in run_results(store, second.id))
        [third], _ = execute(store, ds, [model], fresh=True)
        assert third.done == 50 and server.total == 100


def test_retry_errors_reruns_only_the_failed_records(store, dataset):
    ds = dataset(200)
    with FakeOpenAIServer(FaultConfig(schema_violation_rate=0.3, seed=5)) as server:
        model = add_model(store, server)
        [run], _ = execute(store, ds, [model])
        failed = {r["seq"] for r in run_results(store, run.id) if r["status"] == "error"}
        assert run.errors == len(failed) > 0
        server.config.schema_violation_rate = 0.0
        before = server.total
        assert clear_errors(store, run.id) == len(failed)
        asyncio.run(RunManager(store).execute([run.id]))
        assert server.total - before == len(failed)
    after = get_run(store, run.id)
    assert (after.status, after.done, after.errors) == ("completed", 200, 0)
    assert_one_terminal_result_per_record(store, after)


def test_pause_resume_and_cancel_from_another_actor(store, dataset):
    ds = dataset(400)
    with FakeOpenAIServer(FaultConfig(latency_ms=20)) as server:
        model = add_model(store, server, max_concurrency=4)
        [run] = start_runs(store, ds, [model])

        def pause_soon():
            time.sleep(0.5)
            request_state(store, run.id, "pause")

        threading.Thread(target=pause_soon, daemon=True).start()
        final = asyncio.run(RunManager(store).execute([run.id]))
        paused = get_run(store, run.id)
        assert final[run.id] == "paused" and 0 < paused.done < 400
        assert paused.status_reason == "paused by user"

        request_state(store, run.id, "resume")
        threading.Thread(target=lambda: (time.sleep(0.3), request_state(store, run.id, "cancel")), daemon=True).start()
        final = asyncio.run(RunManager(store).execute([run.id]))
        cancelled = get_run(store, run.id)
        assert final[run.id] == "cancelled" and paused.done < cancelled.done < 400
        seen = server.fake.requests_by_prompt
        assert max(seen.values()) == 1  # nothing was sent twice


def test_two_models_at_once_disagree_somewhere(store, dataset):
    ds = dataset(100)
    with FakeOpenAIServer(FaultConfig(latency_ms=1)) as server:
        a, b = add_model(store, server, "gemma"), add_model(store, server, "olmo")
        runs, final = execute(store, ds, [a, b])
    assert set(final.values()) == {"completed"}
    from workbench.service.metrics import compare

    summary = compare(store, ds, [a, b])
    assert summary.all_answered == 100 and 0 < summary.disagreement_share() < 1


def test_limit_runs_only_the_first_records(store, dataset):
    ds = dataset(100)
    with FakeOpenAIServer() as server:
        model = add_model(store, server)
        [run], _ = execute(store, ds, [model], limit=10)
    assert (run.total, run.done) == (10, 10)
    assert [r["seq"] for r in run_results(store, run.id)] == list(range(1, 11))


def test_requests_carry_the_rendered_prompt(store, dataset):
    ds = dataset(5)
    with FakeOpenAIServer() as server:
        model = add_model(store, server)
        execute(store, ds, [model])
        expected = {prompt_key(TASK.render(r.data)[-1]["content"]) for r in iter_records(store, ds)}
        assert set(server.requests_by_prompt) == expected


def test_rate_limiter_spaces_requests():
    async def starts():
        limiter = RateLimiter(requests_per_minute=3000)  # one every 20 ms
        first = time.monotonic()  # before the first start, so at or before the time it sets the next
        for _ in range(5):
            await limiter.acquire()
        return first, time.monotonic()

    first, last = asyncio.run(starts())
    # Each start is at least an interval after the one before it, so five take at least 80 ms (a gap
    # measured by the caller could look short when the process is preempted between a start and the
    # caller's clock read). No upper bound: machines are noisy.
    assert last - first >= 4 * 0.02 - 0.001


def test_backoff_honours_retry_after_and_grows():
    assert 5.0 <= backoff_delay(1, retry_after_s=5) <= 5.1
    assert all(0.25 <= backoff_delay(1) <= 0.5 for _ in range(50))
    assert max(backoff_delay(6) for _ in range(200)) > 2.0


def test_missing_api_key_fails_the_run_with_a_reason(store, dataset, monkeypatch):
    ds = dataset(20)
    monkeypatch.delenv("NOPE_KEY", raising=False)
    with FakeOpenAIServer() as server:
        model = add_model(store, server, api_key_env="NOPE_KEY")
        [run], final = execute(store, ds, [model])
    assert final[run.id] == "failed" and "NOPE_KEY is not set" in run.status_reason
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM results")).scalar_one() == 0


def test_replicas_share_the_load_and_cover_for_a_dead_one(store, dataset):
    ds = dataset(300)
    with FakeOpenAIServer(FaultConfig(latency_ms=5, capacity=4)) as a, \
            FakeOpenAIServer(FaultConfig(latency_ms=5, capacity=4)) as b:
        model = add_model(store, a, max_concurrency=4, replicas=[b.base_url])
        [run], _ = execute(store, ds, [model])
        assert (run.done, run.errors) == (300, 0)
        assert a.total > 100 and b.total > 100  # least-busy routing used both
        assert a.fake.max_in_flight <= 4 + 1 and b.fake.max_in_flight <= 4 + 1
        b.config.down = True  # one replica dies: the other takes everything
        [second], _ = execute(store, ds, [model], fresh=True)
        assert (second.status, second.done, second.errors) == ("completed", 300, 0)


def test_model_config_lists_replicas(store):
    config = build_model({"id": "vllm", "provider": "openai", "base_url": "http://127.0.0.2:8000/v1/",
                          "replicas": ["http://127.0.0.3:8000/v1"], "model": "m"})
    save_model(store, config)
    from workbench.store.models import get_model

    assert get_model(store, "vllm").base_urls == ["http://127.0.0.2:8000/v1", "http://127.0.0.3:8000/v1"]


def test_a_run_that_cant_start_fails_alone_and_the_others_finish(store, dataset, monkeypatch):
    """`workbench run --model a --model b`: b's setup fails (its task unreadable) after a has started,
    and a run id that is gone; a still finishes, b fails saying why, nothing is left "running"."""
    import workbench.runner.manager as manager

    ds = dataset(40)
    with FakeOpenAIServer(FaultConfig(latency_ms=2)) as server:
        a, b = add_model(store, server, "a"), add_model(store, server, "b")
        run_a, run_b = start_runs(store, ds, [a, b], options=RunOptions())
        real_get_task = manager.get_task
        calls = []

        def get_task(*args):
            calls.append(args)
            if len(calls) == 2:
                raise ValueError("task file unreadable")
            return real_get_task(*args)

        monkeypatch.setattr(manager, "get_task", get_task)
        final = asyncio.run(RunManager(store).execute([run_a.id, run_b.id, 999_999]))
    assert final == {run_a.id: "completed", run_b.id: "failed", 999_999: "cancelled"}, final
    assert get_run(store, run_a.id).done == 40
    failed = get_run(store, run_b.id)
    assert failed.status == "failed" and "task file unreadable" in failed.status_reason
    with store.engine.connect() as conn:
        leased = conn.execute(sa.text("SELECT count(*) FROM runs WHERE lease_owner IS NOT NULL")).scalar()
    assert leased == 0

"""A judge's runs executed by the runner against the fake server: which records it asks about, in
both orders; suggestions and consistency; resume without duplicates; the response cache; never a column."""

from __future__ import annotations

import asyncio

import orjson
import pytest

import testkit.fake_openai as fake_openai
from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from testkit.synthetic import write_jsonl
from workbench.domain.models import ModelConfig, build_model
from workbench.runner.manager import RunManager
from workbench.service import judges
from workbench.service.columns import list_columns
from workbench.service.runs import RunOptions, list_runs, start_runs, unfinished_runs
from workbench.store.datasets import import_dataset
from workbench.store.judges import verdicts
from workbench.store.models import save_model
from workbench.store.results import run_results
from workbench.store.runs import get_run, latest_runs, request_state

RECORDS = 40


def _answers(user_text: str) -> tuple[str, str]:
    first = user_text.split("Answer 1:", 1)[1].split("Answer 2:", 1)[0]
    second = user_text.split("Answer 2:", 1)[1]
    return first, second


def fair_judge(user_text: str) -> str:
    """Prefers the answer whose lines sort first, wherever it is shown: consistent in both orders."""
    first, second = _answers(user_text)
    better = "tie" if first == second else "first" if first < second.split("\nWhich")[0] else "second"
    return orjson.dumps({"better": better, "reason": f"{better} reads better"}).decode()


def first_judge(user_text: str) -> str:
    """Always prefers Answer 1: every verdict flips with the order."""
    return orjson.dumps({"better": "first", "reason": "the first one"}).decode()


@pytest.fixture
def judging(monkeypatch):
    """The fake server's answers: the judge's (its schema has "better") come from the chosen function."""
    chosen = {"judge": fair_judge}
    answer_for = fake_openai.answer_for

    def answer(user_text, model, schema=None):
        props = schema.get("properties") if isinstance(schema, dict) else None
        if isinstance(props, dict) and "better" in props:
            return chosen["judge"](user_text)
        return answer_for(user_text, model, schema)

    monkeypatch.setattr(fake_openai, "answer_for", answer)
    return chosen


@pytest.fixture
def server():
    with FakeOpenAIServer(FaultConfig()) as running:
        yield running


def add_model(store, server, model_id, **extra):
    save_model(store, build_model({"id": model_id, "provider": "openai", "base_url": server.base_url,
                                   "model": f"{model_id}-model", "max_concurrency": 4, **extra}))


@pytest.fixture
def answered(store, tmp_path, server):
    """A dataset both alpha and beta answered (they disagree on some records), and a judge model."""
    write_jsonl(tmp_path / "cands.jsonl", RECORDS)
    dataset = import_dataset(store, tmp_path / "cands.jsonl", name="cands").id
    for model_id in ("alpha", "beta", "judge"):
        add_model(store, server, model_id)
    runs = start_runs(store, dataset, ["alpha", "beta"])
    asyncio.run(RunManager(store).execute([r.id for r in runs]))
    return dataset


def disagreeing(store, dataset) -> set[int]:
    alpha, beta = (latest_runs(store, dataset)[m] for m in ("alpha", "beta"))
    a = {r["seq"]: r["verdict_key"] for r in run_results(store, alpha)}
    b = {r["seq"]: r["verdict_key"] for r in run_results(store, beta)}
    return {seq for seq in a if seq in b and a[seq] != b[seq]}


def execute_judge(store, pair) -> dict[int, str]:
    return asyncio.run(RunManager(store).execute([r.id for r in judges.judge_runs(pair)]))


def test_a_judge_asks_in_both_orders_about_the_records_where_the_columns_disagree(store, answered, judging, server):
    differ = disagreeing(store, answered)
    assert 3 <= len(differ) < RECORDS
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    assert pair.ab.total == pair.ba.total == len(differ) and pair.ab.kind == "judge"
    assert pair.ab.options["judge"] | {"rubric": ""} == {"columns": list(pair.columns), "order": "ab",
                                                         "partner": pair.ba.id, "rubric": ""}
    assert execute_judge(store, pair) == {pair.ab.id: "completed", pair.ba.id: "completed"}
    for run in judges.judge_runs(pair):
        rows = run_results(store, run.id)
        assert {r["seq"] for r in rows} == differ and all(r["status"] == "ok" for r in rows)
    # Each order showed the answers the other way round.
    bodies = [b for b in server.fake.recent_bodies if "better" in str(b.get("response_format"))]
    assert len(bodies) == 2 * len(differ)
    # What a trace renders from (store.judges.judged_record) is what was sent.
    from workbench.runner.asking import prompt_messages
    from workbench.store.judges import judged_record
    from workbench.store.tasks import get_task

    task = get_task(store, pair.ab.task_name, pair.ab.task_version)
    sent = [b["messages"] for b in bodies]
    from workbench.service.traces import result_trace

    for run in judges.judge_runs(pair):
        seq = min(differ)
        assert prompt_messages(task, "", judged_record(store, run, seq), []) in sent
        # The trace of a judge's result shows the messages it was sent, both answers in its order.
        record_id = next(r["record_id"] for r in run_results(store, run.id) if r["seq"] == seq)
        assert result_trace(store, run.id, record_id)["messages"] in sent
    view = judges.judge_view(judges.get_judge(store, pair.id))
    assert (view["status"], view["done"], view["total"]) == ("completed", 2 * len(differ), 2 * len(differ))

    found = judges.suggestions(store, answered, {"alpha": pair.columns[0], "beta": pair.columns[1]})
    assert set(found) == differ
    for [suggestion] in found.values():
        assert suggestion.consistent is True and suggestion.preferred in ("alpha", "beta", "tie")
        assert suggestion.columns == ("alpha", "beta") and suggestion.judge_run == pair.id
        assert suggestion.judge_model == "judge" and suggestion.reason
    some = sorted(differ)[:2]
    assert set(judges.suggestions(store, answered, {"a": pair.columns[0], "b": pair.columns[1]}, some)) == set(some)
    assert judges.suggestions(store, answered, {"alpha": pair.columns[0]}) == {}  # one of the pair: nothing


def test_a_judge_that_flips_with_the_order_suggests_inconsistent_ties(store, answered, judging):
    judging["judge"] = first_judge
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    execute_judge(store, pair)
    found = judges.suggestions(store, answered, {"alpha": pair.columns[0], "beta": pair.columns[1]})
    assert found and all(s.preferred == "tie" and s.consistent is False for [s] in found.values())
    agreement = judges.judge_agreement(store, pair.id)
    assert agreement["consistency"]["k"] == 0 and agreement["consistency"]["n"] == len(found)


def test_judge_runs_are_never_columns(store, answered, judging):
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    execute_judge(store, pair)
    judge_ids = {r.id for r in judges.judge_runs(pair)}
    assert not judge_ids & {c["run_id"] for c in list_columns(store, answered)}
    assert not judge_ids & {r.id for r in list_runs(store, answered)}
    assert "judge" not in latest_runs(store, answered)
    from workbench.store.runs import column_runs

    with pytest.raises(Exception, match="judge's run") as refused:
        column_runs(store, answered, [f"run:{pair.id}"])
    assert getattr(refused.value, "status", None) == 422


def test_a_paused_judge_resumes_without_duplicates(store, answered, judging, server):
    server.config.latency_ms = 200
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")

    async def pause_midway():
        manager = RunManager(store)
        task = asyncio.create_task(manager.execute([r.id for r in judges.judge_runs(pair)]))
        while sum(p.get("done", 0) for p in manager.progress().values()) < 2:
            await asyncio.sleep(0.02)
        manager.pause_all("test pause")
        return await task

    final = asyncio.run(pause_midway())
    assert set(final.values()) <= {"paused", "completed"} and "paused" in final.values()
    assert {r.id for r in unfinished_runs(store)} >= {rid for rid, status in final.items() if status == "paused"}
    server.config.latency_ms = 0
    again = judges.start_judge(store, answered, ["alpha", "beta"], "judge")  # the same judge goes on
    assert again.id == pair.id
    assert set(execute_judge(store, again).values()) == {"completed"}
    differ = disagreeing(store, answered)
    for run in judges.judge_runs(again):
        seqs = [r["seq"] for r in run_results(store, run.id)]
        assert sorted(seqs) == sorted(differ)  # each once
        assert get_run(store, run.id).done == len(differ)


def test_a_second_identical_judge_is_served_from_the_cache(store, answered, judging, server):
    first = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    execute_judge(store, first)
    asked = server.total
    second = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    assert second.id != first.id  # the first one ended: a new judge
    execute_judge(store, second)
    assert server.total == asked
    assert all(r["cached"] for run in judges.judge_runs(second) for r in run_results(store, run.id))
    ab = {(v.seq, v.better) for v in verdicts(store, [first.ab.id])}
    assert ab == {(v.seq, v.better) for v in verdicts(store, [second.ab.id])}
    # The grid's suggestions come from the latest judge of the pair.
    found = judges.suggestions(store, answered, {"alpha": first.columns[0], "beta": first.columns[1]})
    assert {s.judge_run for sug in found.values() for s in sug} == {second.id}
    # The earlier judge still has its own figures.
    assert judges.judge_agreement(store, first.id)["consistency"]["n"] == len(found)


def test_a_judge_run_paused_and_cancelled_like_any_run(store, answered, judging):
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    assert request_state(store, pair.ab.id, "pause").status == "paused"
    assert judges.judge_view(judges.get_judge(store, pair.id))["status"] == "paused"
    assert request_state(store, pair.ba.id, "cancel").status == "cancelled"
    assert judges.judge_view(judges.get_judge(store, pair.id))["status"] == "paused"


def test_a_judge_task_is_refused_as_an_answer_task(store, answered, judging):
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    from workbench.service.tasks import list_tasks

    assert pair.ab.task_name not in {t.name for t in list_tasks(store)}
    for allow_missing_fields in (False, True):
        with pytest.raises(Exception, match="is a judge's task") as refused:
            start_runs(store, answered, ["alpha"], pair.ab.task_name, RunOptions(),
                       allow_missing_fields=allow_missing_fields)
        assert getattr(refused.value, "status", None) == 422


@pytest.mark.engine
def test_the_embedded_model_as_a_judge_on_three_records(store, tmp_path):
    """Plumbing, not quality: the real small model judges; each result is a verdict or a typed error."""
    write_jsonl(tmp_path / "few.jsonl", 3)
    dataset = import_dataset(store, tmp_path / "few.jsonl", name="few").id
    save_model(store, ModelConfig(id="rules", provider="baseline"))
    save_model(store, ModelConfig(id="smol", provider="local", model="smollm2", params={"max_tokens": 120}))
    runs = start_runs(store, dataset, ["rules", "smol"])
    asyncio.run(RunManager(store).execute([r.id for r in runs]))
    pair = judges.start_judge(store, dataset, ["rules", "smol"], "smol")
    asyncio.run(RunManager(store).execute([r.id for r in judges.judge_runs(pair)]))
    for run in judges.judge_runs(pair):
        rows = run_results(store, run.id)
        assert len(rows) == get_run(store, run.id).total
        for row in rows:
            assert (row["status"] == "ok" and row["primary_verdict"] in ("first", "second", "tie")) \
                or (row["status"] == "error" and row["error_kind"])


def test_a_judge_counts_the_records_its_runs_answered_since_it_was_created(store, tmp_path, server, judging):
    write_jsonl(tmp_path / "late.jsonl", RECORDS)
    dataset = import_dataset(store, tmp_path / "late.jsonl", name="late").id
    for model_id in ("alpha", "beta", "judge"):
        add_model(store, server, model_id)
    [alpha] = start_runs(store, dataset, ["alpha"])
    asyncio.run(RunManager(store).execute([alpha.id]))
    [beta] = start_runs(store, dataset, ["beta"])  # queued: nothing answered yet
    pair = judges.start_judge(store, dataset, ["alpha", "beta"], "judge")
    assert pair.ab.total == 0
    asyncio.run(RunManager(store).execute([beta.id]))
    execute_judge(store, pair)
    differ = disagreeing(store, dataset)
    for run in judges.judge_runs(pair):
        assert (get_run(store, run.id).total, get_run(store, run.id).done) == (len(differ), len(differ))

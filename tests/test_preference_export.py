"""Preference data out (#16 item 7, contract 7): TRL's conversational preference pairs from people's
preferences and corrections, the judge's only with judge=1 and marked so; and the training JSONL
passes the OpenAI chat fine-tuning format checks on hostile records (empty, unicode, huge)."""

from __future__ import annotations

import json
from collections import Counter

import orjson
import pytest
from fastapi.testclient import TestClient

from testkit.scale import answer
from tests.test_grid_counts import grid_store  # noqa: F401 (a fixture)
from tests.test_judge_runner import answered, execute_judge, judging, server  # noqa: F401 (fixtures)
from workbench.domain.comparison import verdict_key
from workbench.domain.judging import Suggestion
from workbench.domain.models import build_model
from workbench.domain.tasks import Task
from workbench.service import judges, preference_export
from workbench.service.exports import export
from workbench.store.annotations import annotate
from workbench.store.datasets import import_dataset, iter_records
from workbench.store.models import save_model
from workbench.store.results import ResultRow, RunUpdate, write_batch
from workbench.store.runs import create_run
from workbench.store.tasks import get_task, save_task
from workbench.web.app import create_app

CLIENT = {"X-Workbench-Client": "tests"}
LOCAL = "http://localhost"
FIX = {"recommendation": "Strong Yes", "trajectory": "Strong", "pedigree": "Good", "reasoning": "fixed by hand"}


def write_answers(store, dataset_id, run_id, model, seqs, fields, *, errors=(), output=None):
    """Results for these records; each model's answers differ (its name is in the reasoning)."""
    rows = []
    for seq in seqs:
        record_id = f"cand-{seq:06d}"
        out = (output or (lambda r: {**answer(r, model), "reasoning": f"{model} on {r}"}))(record_id)
        ok = seq not in errors
        rows.append(ResultRow(seq, record_id, "ok" if ok else "error", out if ok else None, None if ok else "http",
                              None if ok else "HTTP 500", None, 5.0, 1, 1, 1, False,
                              verdict_key(out, fields) if ok else None, out.get(fields[0]) if ok else None))
    write_batch(store, [RunUpdate(run_id, rows, [], {"run_id": run_id, "done": 0, "errors": 0, "tokens_in": 0,
                                                     "tokens_out": 0, "cost": 0, "active_seconds": 0,
                                                     "model_id": model, "dataset_id": dataset_id})])


def lines(text: str) -> list[dict]:
    # JSONL lines end at "\n" only (str.splitlines would also split inside a text holding U+2028).
    return [json.loads(line) for line in text.split("\n") if line]


@pytest.fixture
def people(grid_store, settings):  # noqa: F811
    store, dataset_id, runs, fields = grid_store
    for model in runs:
        write_answers(store, dataset_id, runs[model], model, range(1, 21), fields, errors={4} if model == "phi" else ())

    def say(seq, field, value, model=None):
        extra = {"model_id": model} if model else {}
        annotate(store, dataset_id=dataset_id, record_id=f"cand-{seq:06d}", field=field, value=value, author="ann",
                 **extra)

    say(1, "preference", "gemma")  # gemma over olmo and phi
    say(2, "preference", "tie")
    say(3, "preference", "all_bad")
    say(4, "preference", "olmo")  # phi failed on 4: olmo over gemma only
    say(5, "correction", FIX, "gemma")  # the fix over gemma's answer
    say(6, "correction", FIX, "olmo")
    say(6, "judgement", "wrong", "phi")  # no pair
    with TestClient(create_app(settings, store=store), headers=CLIENT, base_url=LOCAL) as client:
        yield client, store, dataset_id, runs


def get(client, dataset_id, **params):
    response = client.get("/api/exports/preferences", params={"dataset_id": dataset_id, **params})
    assert response.status_code == 200, response.text
    return lines(response.text)


def assert_trl_conversational(row):
    assert {"prompt", "chosen", "rejected"} <= set(row)
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert all(isinstance(m["content"], str) and m["content"] for m in row["prompt"])
    for side in ("chosen", "rejected"):
        [message] = row[side]
        assert set(message) == {"role", "content"} and message["role"] == "assistant"
        assert isinstance(orjson.loads(message["content"]), dict)
    assert row["chosen"] != row["rejected"]
    assert row["source"] in ("human_preference", "correction", "judge")


def test_pairs_from_preferences_and_corrections(people):
    client, store, dataset_id, runs = people
    rows = get(client, dataset_id, models="gemma,olmo,phi")
    for row in rows:
        assert_trl_conversational(row)
    pairs = [(r["record_id"], r["source"], r["chosen_column"], r["rejected_column"]) for r in rows]
    assert pairs == [("cand-000001", "human_preference", "gemma", "olmo"),
                     ("cand-000001", "human_preference", "gemma", "phi"),
                     ("cand-000004", "human_preference", "olmo", "gemma"),
                     ("cand-000005", "correction", "gemma", "gemma"),
                     ("cand-000006", "correction", "olmo", "olmo")]
    fixed = rows[3]
    assert orjson.loads(fixed["chosen"][0]["content"]) == FIX
    assert orjson.loads(fixed["rejected"][0]["content"])["reasoning"] == "gemma on cand-000005"
    task = get_task(store, "candidate-screening")
    assert rows[0]["prompt"] == task.render(_record(store, dataset_id, 1))
    # Columns not exported make no pairs: olmo's correction and the preference for olmo go.
    assert [(r["record_id"], r["source"]) for r in get(client, dataset_id, models="gemma,phi")] == [
        ("cand-000001", "human_preference"), ("cand-000005", "correction")]
    # A preference names the run: shown as run:ID, it still makes its pairs.
    shown = get(client, dataset_id, models=f"run:{runs['gemma']},olmo")
    assert ("cand-000001", f"run:{runs['gemma']}", "olmo") in [
        (r["record_id"], r["chosen_column"], r["rejected_column"]) for r in shown]


def _record(store, dataset_id, seq):
    return next(r.data for r in iter_records(store, dataset_id) if r.seq == seq)


def test_judge_pairs_only_when_asked_for(people, monkeypatch):
    client, store, dataset_id, runs = people
    asked = []

    def judged(store, dataset_id, run_ids, seqs=None):
        asked.append(dict(run_ids))
        def said(preferred, consistent):
            return Suggestion(("gemma", "olmo"), preferred, consistent, "judge-model", 77, "because")

        return {7: [said("olmo", True)], 8: [said("tie", False)], 9: [said(None, None)], 10: [said("tie", True)],
                1: [said("olmo", True)]}

    monkeypatch.setattr(preference_export, "suggestions", judged)
    plain = get(client, dataset_id, models="gemma,olmo")
    assert asked == [] and all(r["source"] != "judge" for r in plain)
    with_judge = get(client, dataset_id, models="gemma,olmo", judge=1)
    assert asked == [{"gemma": runs["gemma"], "olmo": runs["olmo"]}]
    judge_rows = [r for r in with_judge if r["source"] == "judge"]
    assert [(r["record_id"], r["chosen_column"], r["rejected_column"]) for r in judge_rows] == [
        ("cand-000001", "olmo", "gemma"), ("cand-000007", "olmo", "gemma")]
    assert all(r["judge_model"] == "judge-model" and r["judge_id"] == 77 for r in judge_rows)
    for row in with_judge:
        assert_trl_conversational(row)
    # People's pairs are the same with or without the judge's.
    assert [r for r in with_judge if r["source"] != "judge"] == plain


@pytest.mark.parametrize("params, status", [
    ({"kind": "preferences", "judge": "maybe"}, 422),
    ({"kind": "training", "judge": "1"}, 422),
    ({"kind": "preferences", "format": "csv"}, 422),
    ({"kind": "preferences", "models": "nobody"}, 404),
])
def test_bad_preference_exports_are_4xx(people, params, status):
    client, _, dataset_id, _ = people
    kind = params.pop("kind")
    response = client.get(f"/api/exports/{kind}", params={"dataset_id": dataset_id, **params})
    assert response.status_code == status, response.text


# --- OpenAI chat fine-tuning format checks ------------------------------------------------------------
# As the OpenAI cookbook's "Data preparation and analysis for chat model fine-tuning" checks a file:
# each line a JSON object with a "messages" list; each message has a role and content and no other
# keys (name, weight and function_call are allowed); roles are system / user / assistant; content is
# a non-empty string; there is an assistant message, and it comes last.

ALLOWED_KEYS = {"role", "content", "name", "function_call", "weight"}
ROLES = {"system", "user", "assistant"}


def openai_format_errors(text: str) -> Counter:
    errors: Counter = Counter()
    for line in filter(None, text.split("\n")):
        example = json.loads(line)
        if not isinstance(example, dict):
            errors["data_type"] += 1
            continue
        messages = example.get("messages")
        if not isinstance(messages, list) or not messages:
            errors["missing_messages_list"] += 1
            continue
        if set(example) - {"messages"}:
            errors["unknown_example_key"] += 1
        for message in messages:
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
                continue
            if set(message) - ALLOWED_KEYS:
                errors["message_unrecognized_key"] += 1
            if message["role"] not in ROLES:
                errors["unrecognized_role"] += 1
            if not isinstance(message["content"], str) or not message["content"].strip():
                errors["missing_content"] += 1
        if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
            errors["example_missing_assistant_message"] += 1
        elif messages[-1].get("role") != "assistant":
            errors["last_message_not_assistant"] += 1
    return errors


def test_the_checks_catch_what_they_should():
    bad = [{"messages": []}, [1], {"messages": [{"role": "user", "content": ""}]},
           {"messages": [{"role": "robot", "content": "x", "extra": 1}, {"role": "assistant", "content": "y"}]},
           {"messages": [{"role": "assistant", "content": "y"}, {"role": "user", "content": "x"}]}]
    errors = openai_format_errors("\n".join(json.dumps(b) for b in bad))
    assert set(errors) == {"missing_messages_list", "data_type", "missing_content", "example_missing_assistant_message",
                           "unrecognized_role", "message_unrecognized_key", "last_message_not_assistant"}


HOSTILE = [
    {"id": "empty", "text": ""},  # renders an empty user turn: left out of training data
    {"id": "blank", "text": "   \n\t "},
    {"id": "unicode", "text": "Zoë 🚀 \u202e\u202e مرحبا \ufeff and \u2028 line"},
    {"id": "huge", "text": "word " * 30_000},
    {"id": "markup", "text": "<script>alert(1)</script> {{ not a template }} {% raw %}"},
    {"id": "plain", "text": "an ordinary review"},
]


@pytest.mark.parametrize("system", ["", "Label the review."])
def test_training_jsonl_passes_the_openai_checks(store, tmp_path, system):
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in HOSTILE) + "\n", encoding="utf-8")
    dataset = import_dataset(store, path, name="hostile")
    schema = {"type": "object", "required": ["label"],
              "properties": {"label": {"type": "string", "enum": ["good", "bad"]}, "why": {"type": "string"}}}
    task = save_task(store, Task(name="reviews", system=system, user="{{ text }}", output_schema=schema))
    config = build_model({"id": "m", "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    save_model(store, config)
    run = create_run(store, dataset_id=dataset.id, model=config, task_name=task.name, task_version=task.version,
                     total=len(HOSTILE), options={})
    answers = {"empty": {"label": "good", "why": ""}, "unicode": {"label": "bad", "why": "🚀 \u202e"}}
    rows = []
    for seq, record in enumerate(HOSTILE, start=1):
        out = answers.get(record["id"], {"label": "good", "why": "x" * 10_000})
        rows.append(ResultRow(seq, record["id"], "ok", out, None, None, None, 5.0, 1, 1, 1, False,
                              verdict_key(out, ["label"]), out["label"]))
    write_batch(store, [RunUpdate(run.id, rows, [], {"run_id": run.id, "done": 0, "errors": 0, "tokens_in": 0,
                                                     "tokens_out": 0, "cost": 0, "active_seconds": 0,
                                                     "model_id": "m", "dataset_id": dataset.id})])
    for record in HOSTILE:
        annotate(store, dataset_id=dataset.id, record_id=record["id"], field="golden", value=True, model_id="m",
                 author="ann")
    annotate(store, dataset_id=dataset.id, record_id="markup", field="correction", value={"label": "bad", "why": ""},
             model_id="m", author="ann")
    out = tmp_path / "training.jsonl"
    count = export(store, "training", dataset.id, None, None, out)
    text = out.read_text(encoding="utf-8")
    assert openai_format_errors(text) == Counter()
    examples = lines(text)
    assert count == len(examples) == 4  # "empty" and "blank" have nothing to learn from
    roles = ["user", "assistant"] if not system else ["system", "user", "assistant"]
    assert all([m["role"] for m in e["messages"]] == roles for e in examples)
    by_prompt = {e["messages"][-2]["content"][:20]: e for e in examples}
    assert orjson.loads(by_prompt["<script>alert(1)</sc"]["messages"][-1]["content"]) == {"label": "bad", "why": ""}
    assert any("🚀" in e["messages"][-2]["content"] for e in examples)


def test_a_real_judges_verdicts_become_judge_pairs(store, answered, judging, server, tmp_path):  # noqa: F811
    """The judge run by the runner against the fake server (both orders): each consistent verdict
    that isn't a tie is one pair, and none without judge=1."""
    pair = judges.start_judge(store, answered, ["alpha", "beta"], "judge")
    execute_judge(store, pair)
    found = judges.suggestions(store, answered, {"alpha": pair.columns[0], "beta": pair.columns[1]})
    decided = {seq: s.preferred for seq, [s] in found.items() if s.consistent and s.preferred != "tie"}
    assert decided
    out = tmp_path / "prefs.jsonl"
    assert export(store, "preferences", answered, ["alpha", "beta"], None, out) == 0
    export(store, "preferences", answered, ["alpha", "beta"], None, out, judge=True)
    rows = lines(out.read_text(encoding="utf-8"))
    assert all(r["source"] == "judge" and r["judge_model"] == "judge" for r in rows)
    for row in rows:
        assert_trl_conversational(row)
    assert len(rows) == len(decided)
    assert sorted(r["chosen_column"] for r in rows) == sorted(decided.values())


def test_workbench_export_kind_preferences(people, settings, tmp_path):
    from click.testing import CliRunner

    from workbench.cli import main

    _, _, dataset_id, _ = people
    out = tmp_path / "prefs.jsonl"
    result = CliRunner().invoke(main, ["export", "--dataset", dataset_id, "--kind", "preferences", "--models",
                                       "gemma,olmo,phi", "-o", str(out), "--data-dir", str(settings.data_dir)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = lines(out.read_text(encoding="utf-8"))
    assert len(rows) == 5 and "wrote 5 rows" in result.output

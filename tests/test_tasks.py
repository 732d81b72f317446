"""Tasks: rendering (sandboxed), verdict fields, validation, YAML, versioning."""

from __future__ import annotations

import pytest

from workbench.domain.outputs import extract_json_object, parse_output
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.domain.tasks import Task, TaskError
from workbench.store.tasks import get_task, list_tasks, save_task, sync_tasks

YAML_TASK = """
name: sentiment
description: Is a review positive?
system: |
  Classify the sentiment of product reviews. Answer as JSON: {{ schema_json }}
user: "Review: {{ text }}"
output_schema:
  type: object
  properties:
    label: {type: string, enum: [positive, negative, mixed]}
    confidence: {type: string, enum: [high, low]}
    why: {type: string, maxLength: 200}
  required: [label, why]
primary_verdict: label
"""


def test_builtin_verdict_fields():
    assert TASK.verdict_fields == [
        ("recommendation", ["Strong Yes", "Yes", "Maybe", "No", "Strong No"]),
        ("trajectory", ["Strong", "Good", "Average", "Weak"]),
        ("pedigree", ["Strong", "Good", "Average", "Weak"]),
    ]
    assert TASK.primary_verdict == "recommendation"
    assert TASK.output_schema["properties"]["reasoning"]["maxLength"] == 400


def test_system_prompt_is_shared_and_first():
    a = TASK.render({"name": "A", "title": "Engineer"})
    b = TASK.render({"name": "B", "skills": ["Go"]})
    assert a[0]["role"] == "system" and a[0] == b[0]  # same prefix for every record
    assert "A" in a[1]["content"] and "Engineer" in a[1]["content"] and "Go" in b[1]["content"]


def test_render_tolerates_missing_and_odd_fields():
    text = TASK.render({"id": 1, "education": "self-taught", "skills": "python, sql"})[1]["content"]
    assert "self-taught" in text and "python, sql" in text


@pytest.mark.parametrize("history", [
    "2015-2020 Engineer at Google; 2020-now Staff Engineer at Meta",  # one text field, as most exports have it
    '[{"title": "Engineer", "company": "Google"}]',  # a list kept as JSON text by a CSV export
])
def test_work_history_as_text_is_shown(history):
    """The candidate template showed a list of jobs only: a work history given as one text field
    (most real exports) was dropped, so every model judged without it."""
    user = TASK.render({"name": "Ada", "work_history": history})[-1]["content"]
    assert f"Work history:\n{history}" in user


def test_work_history_as_a_list_is_one_line_per_job():
    user = TASK.render({"name": "Ada", "work_history": [
        {"start_year": 2015, "end_year": 2020, "title": "Engineer", "company": "Google"}, "freelance"]})[-1]["content"]
    assert "Work history:\n- 2015–2020: Engineer at Google\n- freelance" in user


def test_few_shot_examples_become_turns():
    answer = {"recommendation": "Yes", "trajectory": "Good", "pedigree": "Good", "reasoning": "ok"}
    messages = TASK.render({"name": "New"}, examples=[({"name": "Old"}, answer)])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert '"recommendation":"Yes"' in messages[2]["content"]


@pytest.mark.parametrize("template", [
    "{{ record.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ record.update({'a': 2}) }}",
])
def test_templates_are_sandboxed(template):
    """Python internals are out of reach: refused, or rendered as nothing."""
    task = Task(name="evil", system="x", user=template, output_schema={"type": "object"})
    record = {"a": 1}
    try:
        text = task.render(record)[1]["content"]
    except TaskError as exc:
        assert "unsafe" in str(exc)
    else:
        assert text == ""
    assert record == {"a": 1}


def test_invalid_task_definitions_are_clear():
    with pytest.raises(TaskError, match="user template, line 1"):
        Task(name="t", system="s", user="{{ oops", output_schema={"type": "object"})
    with pytest.raises(TaskError, match="invalid output schema"):
        Task(name="t", system="s", user="u", output_schema={"type": "object", "properties": {"a": {"type": 5}}})
    with pytest.raises(TaskError, match="primary verdict"):
        Task(name="t", system="s", user="u", output_schema={"type": "object"}, primary_verdict="nope")


def test_validation_and_tolerant_parsing():
    good = '{"recommendation": "Yes", "trajectory": "Good", "pedigree": "Weak", "reasoning": "fine"}'
    assert parse_output(good, TASK).ok
    assert parse_output(f"Sure! Here it is:\n```json\n{good}\n```", TASK).ok
    bad_enum = parse_output(good.replace('"Yes"', '"Great"'), TASK)
    assert bad_enum.error_kind == "schema_violation" and "recommendation" in bad_enum.error_message
    prose = parse_output("I think this candidate is great.", TASK)
    assert prose.error_kind == "invalid_json" and prose.value is None
    assert extract_json_object('text {"a": "}"} more {"b": 1}') == {"a": "}"}


def test_yaml_task_and_versions(store, tmp_path):
    path = tmp_path / "sentiment.yaml"
    path.write_text(YAML_TASK, encoding="utf-8")
    first = save_task(store, Task.from_yaml(path))
    assert first.version == 1 and first.verdict_fields[0] == ("label", ["positive", "negative", "mixed"])
    assert save_task(store, Task.from_yaml(path)).version == 1  # unchanged: same version
    path.write_text(YAML_TASK.replace("Review:", "Product review:"), encoding="utf-8")
    second = save_task(store, Task.from_yaml(path))
    assert second.version == 2
    assert "Review: " in get_task(store, "sentiment", 1).user  # old version kept as it was
    assert get_task(store, "sentiment").version == 2
    assert {t.name: t.version for t in list_tasks(store)} == {"candidate-screening": 1, "sentiment": 2}


def test_a_saved_version_is_read_once_the_latest_every_time(store):
    import sqlalchemy as sa

    reads: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_: reads.append(statement) if "FROM tasks" in statement else None)
    v1 = save_task(store, Task.from_dict(TASK.to_dict() | {"name": "kept", "version": 0}))
    reads.clear()
    assert get_task(store, "kept", 1) == get_task(store, "kept", 1) == v1
    assert len(reads) <= 1
    v2 = save_task(store, Task.from_dict(TASK.to_dict() | {"name": "kept", "version": 0, "description": "new"}))
    assert get_task(store, "kept") == v2 and get_task(store, "kept", 1) == v1  # the latest is asked afresh


def test_task_files_in_the_data_dir_are_loaded(store):
    task_dir = store.settings.data_dir / "tasks"
    task_dir.mkdir()
    (task_dir / "sentiment.yaml").write_text(YAML_TASK, encoding="utf-8")
    (task_dir / "broken.yaml").write_text("name: [", encoding="utf-8")
    problems = sync_tasks(store)
    assert get_task(store, "sentiment").version == 1
    assert len(problems) == 1 and "broken.yaml" in problems[0]


def test_bad_yaml_is_one_clear_error(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("name: x\nsystem: s\n", encoding="utf-8")
    with pytest.raises(TaskError, match="missing: output_schema, user"):
        Task.from_yaml(path)

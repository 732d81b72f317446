"""Task templates, domain side: the record fields a template uses and which a dataset lacks, the
render budget against hostile templates (and any template on any record), starting points, and
what changed between versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from testkit.synthetic import generate_candidates
from workbench.domain.task_changes import changes, yaml_diff
from workbench.domain.task_preview import preview
from workbench.domain.task_starters import STARTERS, get_starter
from workbench.domain.tasks import CANDIDATE_SCREENING, Task, TaskError
from workbench.domain.template_fields import field_uses, missing_fields, template_fields

SAMPLE = Path(__file__).resolve().parent.parent / "workbench" / "data" / "sample_candidates.jsonl"
REVIEWS = ["id", "product", "text", "stars"]


def task(user: str, system: str = "Answer as JSON: {{ schema_json }}", **more) -> Task:
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]}}}
    return Task(name="t", system=system, user=user, output_schema=schema, **more)


def test_fields_by_name_and_through_the_record():
    t = task('{{ product }}: {{ record.text }} {{ record["stars"] }} {{ record.get("maybe") }}'
             '{% for x in items %}{{ x.name }}{{ loop.index }}{% endfor %}{% set local = 1 %}{{ local }}'
             '{{ schema_json }}{{ task }}{{ record | tojson }}')
    assert template_fields(t) == {"product", "text", "stars", "maybe", "items"}
    assert field_uses(t.user) == {"product": True, "text": True, "stars": True, "maybe": False, "items": True}


@pytest.mark.parametrize("source", [
    "{% if title %}Role: {{ title }}{% endif %}", "{{ title or 'none' }}", "{{ title | default('none') }}",
    "{% if title is defined %}{{ title }}{% endif %}", "{{ title if title else '' }}",
    "{% if record.title %}{{ record.title }}{% endif %}",
])
def test_guarded_uses_are_optional(source):
    assert field_uses(source) == {"title": False}


def test_a_required_field_the_dataset_lacks_is_missing():
    t = task("{{ product }} {{ text }} {% if stars %}{{ stars }}{% endif %}")
    assert missing_fields(t, ["product", "text"]) == []  # stars is optional, and others are there
    assert missing_fields(t, ["product", "stars"]) == ["text"]


def test_the_candidate_template_on_candidates_and_on_reviews():
    demo = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert missing_fields(CANDIDATE_SCREENING, {k for r in demo for k in r}) == []
    assert missing_fields(CANDIDATE_SCREENING, {k for r in generate_candidates(50) for k in r}) == []
    assert missing_fields(CANDIDATE_SCREENING, ["id", "name", "title"]) == []  # tests' small files
    missing = missing_fields(CANDIDATE_SCREENING, REVIEWS)
    assert missing[:3] == ["name", "full_name", "title"] and "work_history" in missing


def test_the_sentiment_starter_fits_reviews():
    sentiment = get_starter("sentiment").task
    assert missing_fields(sentiment, REVIEWS) == []
    assert missing_fields(sentiment, ["id", "body"]) == ["product", "text"]


@pytest.mark.parametrize("source, limit", [
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "range()"),
    ("{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}{% endfor %}", "steps"),
    ('{{ "x" * 10**10 }}', "'*'"),
    ("{{ 10 ** 100000 }}", "'**'"),
    ('{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}', "'~'"),
    ('{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}', "'+'"),
    # 2**40 calls: the clock or the step count trips first, as the machine is quick or loaded.
    ("{% macro m(d) %}{% if d < 40 %}{{ m(d + 1) }}{{ m(d + 1) }}{% endif %}{% endmacro %}{{ m(0) }}",
     ("s to render", "steps")),
    ('{{ "x".ljust(10**9) }}', "ljust"),
    ('{{ "x" | center(10**9) }}', "center"),
    ('{{ "x" | indent(10**9) }}', "indent"),
    ('{{ "%0999999999d" % 1 }}', "format width"),
    ('{{ "{:>999999999}".format(1) }}', "format width"),
    ('{{ ("x" * 100000) | replace("", "y" * 100000) }}', "replace"),
    ('{% for i in range(10000) %}{{ "x" * 1000 }}{% endfor %}', "longer than"),
    ("{{ [1] | slice(100000000) | list }}", "slice"),
    ("{{ [1] | batch(100000000, 0) | list }}", "batch"),
])
def test_a_hostile_template_fails_naming_the_limit(source, limit):
    with pytest.raises(TaskError, match="template failed") as failure:
        task(source).render({"text": "x"})
    assert any(words in str(failure.value) for words in ((limit,) if isinstance(limit, str) else limit))


def test_finding_the_fields_folds_no_constants():
    """Looking for names compiles the template, and compiling folds constants: in the budget's
    sandbox, so `{{ "x" * 10**10 }}` is not worked out (10 GB) while looking for its fields."""
    from workbench.domain import template_fields

    assert "xxxxxxxxxx" not in template_fields._PARSER.compile('{{ "x" * 10 }}', raw=True)
    assert field_uses('{{ "x" * 10**10 }}') == {} and field_uses('{{ [1] | batch(100000000, 0) | list }}') == {}


def test_ordinary_templates_still_work():
    messages = task('{{ text | upper }} {{ "ab" * 2 }} {{ 2 ** 10 }} {{ "%s-%d" % ("a", 1) }} {{ "{}!".format(1) }} '
                    '{{ range(3) | list }} {{ "a" ~ text }} {{ text | center(5) }}|').render({"text": "hi"})
    assert messages[-1]["content"] == "HI abab 1024 a-1 1! [0, 1, 2] ahi   hi |"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)
template_bits = st.sampled_from(["{{ ", " }}", "{% ", " %}", "{% for x in ", "{% endfor %}", "{% if ", "{% endif %}",
                                 "text", "record", ".", "[", "]", "(", ")", "|", "upper", "tojson", "*", "**", "~",
                                 "+", "%", "range", "10", "99999", '"x"', "loop", "join", "{# ", " #}", "\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=st.one_of(st.text(max_size=60), st.lists(template_bits, max_size=25).map("".join)),
       record=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_any_template_on_any_record_gives_messages_or_a_task_error(user, record):
    try:
        t = task(user)
    except TaskError:
        return
    try:
        messages = t.render(record)
    except TaskError:
        return
    assert [m["role"] for m in messages] == ["system", "user"]
    assert all(isinstance(m["content"], str) for m in messages)


@settings(max_examples=150, deadline=None)
@given(draft=st.dictionaries(st.sampled_from(["name", "system", "user", "output_schema", "primary_verdict", "x"]),
                             json_values, max_size=6), record=st.dictionaries(st.text(max_size=10), json_values))
def test_the_preview_of_any_draft_is_a_preview(draft, record):
    shown = preview(draft, record, list(record))
    assert isinstance(shown.messages, list) and isinstance(shown.problems, list)


def test_the_preview_reports_problems_where_they_are():
    draft = get_starter("sentiment").to_dict()["task"] | {"user": "line 1\n{{ text }"}
    shown = preview(draft, {"text": "x"}, ["text"])
    assert shown.problems == [{"where": "user template", "line": 2, "message": "unexpected '}'"}]
    assert shown.messages == []
    draft |= {"user": "line 1\n{{ 1 / 0 }} {{ title }}", "name": "", "primary_verdict": "nope"}
    shown = preview(draft, {"text": "x"}, ["text"])
    assert {p["where"] for p in shown.problems} == {"name", "primary verdict", "user template"}
    assert [p["line"] for p in shown.problems if p["where"] == "user template"] == [2]
    assert shown.missing_fields == ["title"] and "name:" in shown.yaml


@pytest.mark.parametrize("starter", STARTERS, ids=lambda s: s.id)
def test_every_starter_is_a_task_with_a_string_verdict(starter):
    t = Task.from_dict(starter.to_dict()["task"])
    assert t.primary_verdict is not None
    assert all(isinstance(v, str) for _, values in t.verdict_fields for v in values)
    messages = t.render({"id": "1", "text": "Boils fast and looks great. Love it.", "product": "Kettle"})
    assert messages[0]["content"] and messages[-1]["content"]


def test_what_changed_between_versions():
    v1 = get_starter("sentiment").task.with_version(1)
    schema = json.loads(json.dumps(v1.output_schema))
    schema["properties"]["confidence"] = {"type": "number"}
    v2 = Task(**(v1.to_dict() | {"user": v1.user + "!", "output_schema": schema, "version": 2}))
    assert changes(None, v1) == ["first version"]
    assert changes(v1, v2) == ["user template", "output schema: added field 'confidence'"]
    diff = yaml_diff(v1, v2)
    assert diff.startswith("--- sentiment v1\n+++ sentiment v2\n") and "+    confidence:" in diff

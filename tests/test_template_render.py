"""render_within_budget joins a template's pieces in groups: its text must be generate()'s, byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.domain.task_starters import STARTERS
from workbench.domain.tasks import Task, compile_template
from workbench.domain.template_budget import MAX_TEXT, BudgetExceeded, render_within_budget

FIELDS = ["text", "product", "name", "full_name", "title", "company", "years_experience", "location",
          "education", "skills", "work_history", "summary", "record", "range", "x y"]
texts = st.one_of(st.text(), st.sampled_from(["{{ x }}", "{% if %}", "<b>&amp;</b>", "[/x]", "\u202e\x00\n", "é" * 3000]))
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["degree", "field", "school", "start_year", "end_year",
                                                                  "title", "company", "summary", "k"]), inner, max_size=5)),
    max_leaves=12)
records = st.dictionaries(st.sampled_from(FIELDS), values, max_size=8)
TEMPLATES = [s.task.user for s in STARTERS] + ["{{ text }} and {{ missing }}", "{% for w in skills %}{{ w }}{% endfor %}"]


def by_generate(source: str, context: dict) -> str:
    """The plain jinja path: every piece from template.generate."""
    return "".join(compile_template(source).generate(context))


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(TEMPLATES), record=records)
def test_grouped_render_equals_generate(source: str, record: dict) -> None:
    context = {k: v for k, v in record.items() if k.isidentifier()} | {"record": record}
    try:
        expected = by_generate(source, context)
    except Exception as exc:  # noqa: BLE001 - then both fail alike
        with pytest.raises(type(exc)):
            render_within_budget(compile_template(source), context)
        return
    if len(expected) > MAX_TEXT:
        with pytest.raises(BudgetExceeded):
            render_within_budget(compile_template(source), context)
    else:
        assert render_within_budget(compile_template(source), context) == expected


@pytest.mark.parametrize("pieces", [1, 31, 32, 33, 200])
def test_output_cap_holds_across_groups(pieces: int) -> None:
    template = compile_template("{% for v in values %}{{ v }}{% endfor %}")
    exact = ["x" * (MAX_TEXT // pieces)] * pieces
    assert len(render_within_budget(template, {"values": exact})) == len("".join(exact))
    with pytest.raises(BudgetExceeded, match="longer than"):
        render_within_budget(template, {"values": exact + ["y" * (MAX_TEXT - len("".join(exact)) + 1)]})


def test_a_failure_names_the_template_line() -> None:
    task = Task(name="t", system="s", user="a\n{{ 1 // zero }}", output_schema={"type": "object"})
    with pytest.raises(Exception, match="template failed"):
        task.render({"zero": 0})

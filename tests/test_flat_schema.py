"""The flat schema's fast paths never say "valid" where jsonschema would not."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from workbench.domain.flat_schema import compile_fast_check, surely_valid_schema
from workbench.domain.tasks import CANDIDATE_SCREENING, Task, TaskError

ODD = st.sampled_from([None, True, False, 0, -1, 3, 1.5, 1.0, 2**40, "", "x", "string", "object", [], ["a"],
                       ["a", "a"], {}, {"type": "string"}, ("a",)])
TYPES = st.sampled_from(["string", "object", "integer", ["string"], None, 1, "array"])
PROPERTY = st.dictionaries(
    st.sampled_from(["type", "enum", "maxLength", "minLength", "title", "description", "pattern", "items", "$ref"]),
    st.one_of(ODD, TYPES, st.integers(-3, 5), st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=3)),
    max_size=5)
SCHEMA = st.dictionaries(
    st.sampled_from(["type", "properties", "required", "additionalProperties", "title", "description",
                     "minProperties", "$defs"]),
    st.one_of(ODD, TYPES, st.dictionaries(st.text(max_size=4), st.one_of(PROPERTY, ODD), max_size=4),
              st.lists(st.one_of(st.text(max_size=3), ODD), max_size=3)),
    max_size=6)


def _meta_valid(schema) -> bool:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return False
    return True


@settings(max_examples=600)
@given(SCHEMA)
def test_a_schema_vouched_for_is_one_jsonschema_accepts(schema):
    if surely_valid_schema(schema):
        assert _meta_valid(schema)


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=6), PROPERTY, max_size=4), st.lists(st.text(max_size=6), max_size=3),
       st.booleans())
def test_flat_schemas_of_valid_parts_are_vouched_for_exactly_when_jsonschema_accepts_them(props, required, closed):
    """Within the flat shape, the fast path agrees with jsonschema wherever it answers "valid"; and
    for the plain shapes (string properties, string enums, lengths) it does answer."""
    schema = {"type": "object", "properties": props, "required": required, "additionalProperties": not closed}
    if surely_valid_schema(schema):
        assert _meta_valid(schema)
    plain = all(set(p) <= {"type", "enum", "maxLength"} and p.get("type", "string") == "string"
                and isinstance(p.get("enum", []), list) and type(p.get("maxLength", 0)) is int
                and p.get("maxLength", 0) >= 0 for p in props.values())
    if plain and len(set(required)) == len(required):
        assert surely_valid_schema(schema)


ANSWER = st.one_of(st.none(), st.integers(), st.text(max_size=5),
                   st.dictionaries(st.sampled_from(["recommendation", "trajectory", "pedigree", "reasoning", "x"]),
                                   st.one_of(st.sampled_from(["Yes", "Good", "Strong No", "Weak", ""]),
                                             st.text(max_size=3), st.integers(), st.none(), st.just("r" * 401)),
                                   max_size=5))


@settings(max_examples=600)
@given(ANSWER)
def test_an_answer_the_fast_check_passes_is_one_jsonschema_passes(answer):
    check = compile_fast_check(CANDIDATE_SCREENING.output_schema)
    assert check is not None
    assert check(answer) == Draft202012Validator(CANDIDATE_SCREENING.output_schema).is_valid(answer)


def test_the_builtin_task_and_common_shapes_are_vouched_for():
    assert surely_valid_schema(CANDIDATE_SCREENING.output_schema)
    assert surely_valid_schema({"type": "object", "properties": {"label": {"enum": ["a", "b"]},
                                                                 "why": {"type": "string", "minLength": 0}}})


def test_a_schema_the_fast_path_cannot_vouch_for_is_still_checked():
    for bad, words in [({"type": "object", "properties": {"n": {"type": "integer", "minimum": "x"}}}, "not of type"),
                       ({"type": "object", "required": ["a", "a"]}, "non-unique"),
                       ({"type": "object", "properties": {"a": {"maxLength": -1}}}, "-1")]:
        try:
            Task(name="t", system="s", user="u", output_schema=bad)
        except TaskError as exc:
            assert "invalid output schema" in str(exc) and words in str(exc)
        else:
            raise AssertionError(f"accepted {bad}")
    Task(name="t", system="s", user="u", output_schema={"type": "object",
                                                        "properties": {"n": {"type": "integer", "minimum": 1}}})


def test_a_flat_task_is_made_and_used_without_importing_jsonschema():
    code = ("import sys\n"
            "from workbench.domain.tasks import CANDIDATE_SCREENING as t\n"
            "assert t.validation_errors({'recommendation': 'Yes', 'trajectory': 'Good', 'pedigree': 'Weak',"
            " 'reasoning': 'ok'}) == []\n"
            "assert 'jsonschema' not in sys.modules\n"
            "assert t.validation_errors({'recommendation': 'Perhaps'})\n"
            "assert 'jsonschema' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)

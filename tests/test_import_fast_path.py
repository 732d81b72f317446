"""The import's light pass (no id dict, the lighter JSON-rule walk) refuses and lists exactly what the
exact pass did, and stores the same records."""

from __future__ import annotations

import json

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from workbench.domain.datasets import ImportRejected, RecordPlanner
from workbench.domain.importers import _plainly_within_rule, read_rows
from workbench.domain.json_rules import json_scan
from workbench.store.datasets import BATCH, import_dataset, iter_records, list_datasets

_numbers = st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**66),
                     st.floats(allow_nan=False, allow_infinity=False), st.floats(min_value=9e18, max_value=1e30))
_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=8) | st.sampled_from(["\x00", "a\x00b"])
_json = st.recursive(st.none() | st.booleans() | _numbers | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=80)


def _deep(depth: int) -> dict:
    value: dict = {"x": 1}
    for _ in range(depth):
        value = {"n": [value]}
    return value


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.dictionaries(_text, _json, max_size=4) | st.integers(60, 70).map(_deep))
def test_the_light_walk_passes_only_what_the_exact_walk_passes(record):
    text = json.dumps(record, ensure_ascii=bool(len(str(record)) % 2))  # escaped and raw Unicode both
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return  # refused before either walk
    if _plainly_within_rule(value, text):
        assert json_scan(value) == (None, False)


def _lines(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_a_duplicate_past_the_first_batch_is_listed_with_the_other_problems(store, tmp_path):
    records = [{"id": f"r{i}", "n": i} for i in range(BATCH * 2 + 10)]
    records[BATCH + 5] = {"id": "r3", "n": "again"}  # stored batches before it: the store refuses it
    records[BATCH * 2 + 2] = {"name": "no id"}
    path = tmp_path / "dup.jsonl"
    path.write_bytes(_lines(records))
    with pytest.raises(ImportRejected) as caught:
        import_dataset(store, path, name="dup")
    problems = caught.value.problems
    assert f"line {BATCH * 2 + 3}: missing the id field 'id'" in problems
    assert any(f"'r3' (line 4 and line {BATCH + 6})" in p for p in problems)
    assert list_datasets(store) == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one() == 0


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.sampled_from(["name", "title", "company", "note"]), _text | st.integers(-5, 5),
                                max_size=4), min_size=1, max_size=30), st.booleans())
def test_stored_records_are_what_the_exact_planner_prepares(store, tmp_path, records, with_ids):
    rows = [dict(r, id=f"é{i}/ü") if with_ids else r for i, r in enumerate(records)]
    path = tmp_path / "any.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    expected = [(p.seq, p.record_id, p.title, p.subtitle, orjson.loads(p.data))
                for p in RecordPlanner().plan(read_rows(path, "jsonl"))]
    try:
        info = import_dataset(store, path)
    except ImportRejected:  # only if the exact planner refuses it too
        planner = RecordPlanner()
        list(planner.plan(read_rows(path, "jsonl")))
        assert not planner.ok
        return
    stored = [(r.seq, r.record_id, r.title, r.subtitle, r.data) for r in iter_records(store, info.id)]
    assert stored == expected

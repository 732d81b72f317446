"""Dataset import: good files in every format, and every kind of bad input, all-or-nothing."""

from __future__ import annotations

import csv
import json
import tracemalloc
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from workbench.domain.datasets import ImportRejected
from workbench.domain.importers import MAX_RECORD_BYTES, UnreadableFile
from testkit.synthetic import generate_candidates, write_jsonl
from workbench.store.datasets import get_dataset, import_dataset, iter_records, list_datasets

PEOPLE = [
    {"id": "a1", "name": "Ada Lovelace", "title": "Engineer", "company": "Analytical Engines"},
    {"id": "a2", "name": "Grace Hopper", "title": "Rear Admiral", "company": "US Navy"},
]


def write_lines(path, lines: list[bytes]):
    path.write_bytes(b"".join(lines))
    return path


def jsonl(records) -> list[bytes]:
    return [json.dumps(r).encode() + b"\n" for r in records]


def record_count(store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM records")).scalar_one()


def assert_rejected(store, path, *fragments, kind=ImportRejected):
    before = ([d.id for d in list_datasets(store)], record_count(store))
    with pytest.raises(kind) as info:
        import_dataset(store, path)
    message = str(info.value) + " ".join(getattr(info.value, "problems", []))
    for fragment in fragments:
        assert fragment in message, message
    assert ([d.id for d in list_datasets(store)], record_count(store)) == before, "store changed"
    return info.value


def test_jsonl_import_keeps_ids_and_infers_display(store, tmp_path):
    info = import_dataset(store, write_lines(tmp_path / "people.jsonl", jsonl(PEOPLE)))
    assert (info.id, info.record_count, info.id_field, info.format) == ("people", 2, "id", "jsonl")
    rows = list(iter_records(store, info.id))
    assert [r.record_id for r in rows] == ["a1", "a2"]
    assert rows[0].title == "Ada Lovelace" and rows[0].subtitle == "Engineer @ Analytical Engines"
    assert rows[1].data == PEOPLE[1]


def test_same_name_gets_a_new_id(store, tmp_path):
    path = write_lines(tmp_path / "people.jsonl", jsonl(PEOPLE))
    assert import_dataset(store, path).id == "people"
    assert import_dataset(store, path).id == "people-2"


def test_generated_ids_are_stable_and_unique(store, tmp_path):
    records = [{"q": "same"}, {"q": "same"}, {"q": "other"}]
    path = write_lines(tmp_path / "qs.jsonl", jsonl(records))
    first = [r.record_id for r in iter_records(store, import_dataset(store, path).id)]
    second = [r.record_id for r in iter_records(store, import_dataset(store, path).id)]
    assert first == second and len(set(first)) == 3
    assert get_dataset(store, "qs").id_field is None


def test_configurable_id_and_display_fields(store, tmp_path):
    from workbench.domain.records import DisplayFields

    path = write_lines(tmp_path / "p.jsonl", jsonl([{"key": 7, "label": "x", "team": "t"}]))
    info = import_dataset(store, path, id_field="key", display=DisplayFields("label", ("team",)))
    row = next(iter_records(store, info.id))
    assert (row.record_id, row.title, row.subtitle) == ("7", "x", "t")


def test_bom_and_crlf_are_accepted(store, tmp_path):
    lines = [b"\xef\xbb\xbf" + jsonl(PEOPLE)[0].rstrip(b"\n") + b"\r\n", jsonl(PEOPLE)[1].rstrip(b"\n") + b"\r\n"]
    info = import_dataset(store, write_lines(tmp_path / "bom.jsonl", lines))
    assert info.record_count == 2
    assert [r.record_id for r in iter_records(store, info.id)] == ["a1", "a2"]


def test_blank_lines_are_skipped(store, tmp_path):
    lines = [jsonl(PEOPLE)[0], b"\n", b"   \n", jsonl(PEOPLE)[1]]
    assert import_dataset(store, write_lines(tmp_path / "b.jsonl", lines)).record_count == 2


def test_malformed_json_line_is_reported_by_line(store, tmp_path):
    lines = jsonl(PEOPLE[:1]) + [b'{"id": "x", "name": \n'] + jsonl(PEOPLE[1:])
    assert_rejected(store, write_lines(tmp_path / "bad.jsonl", lines), "line 2", "malformed JSON")


def test_every_bad_line_is_listed(store, tmp_path):
    lines = [b"nope\n", b"[1,2]\n", b'"str"\n'] + jsonl(PEOPLE)
    exc = assert_rejected(store, write_lines(tmp_path / "bad.jsonl", lines))
    assert [p.split(":")[0] for p in exc.problems] == ["line 1", "line 2", "line 3"]
    assert "got an array" in exc.problems[1] and "got a string" in exc.problems[2]


def test_non_object_value(store, tmp_path):
    assert_rejected(store, write_lines(tmp_path / "arr.jsonl", jsonl(PEOPLE) + [b"42\n"]),
                    "line 3", "expected a JSON object, got a number")


def test_invalid_utf8(store, tmp_path):
    lines = jsonl(PEOPLE) + [b'{"id": "z", "name": "caf\xe9"}\n']
    assert_rejected(store, write_lines(tmp_path / "latin1.jsonl", lines), "line 3", "invalid UTF-8")


def test_duplicate_ids_are_listed(store, tmp_path):
    records = PEOPLE + [{"id": "a1", "name": "again"}, {"id": "a2"}, {"id": "a3"}]
    exc = assert_rejected(store, write_lines(tmp_path / "dup.jsonl", jsonl(records)), "duplicate ids")
    assert "'a1' (line 1 and line 3)" in str(exc.problems) and "'a2' (line 2 and line 4)" in str(exc.problems)


def test_missing_id_on_a_later_record(store, tmp_path):
    assert_rejected(store, write_lines(tmp_path / "m.jsonl", jsonl(PEOPLE + [{"name": "no id"}])),
                    "line 3", "missing the id field 'id'")


def test_empty_file(store, tmp_path):
    assert_rejected(store, write_lines(tmp_path / "empty.jsonl", []), "empty", kind=UnreadableFile)
    assert_rejected(store, write_lines(tmp_path / "blank.jsonl", [b"\n\n"]), "no records")


def test_binary_file(store, tmp_path):
    path = tmp_path / "image.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert_rejected(store, path, "binary", kind=UnreadableFile)


def test_huge_field_is_rejected_by_the_documented_limit(store, tmp_path):
    big = {"id": "big", "name": "x" * (50 * 1024 * 1024)}
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as f:
        f.writelines(jsonl(PEOPLE[:1]))
        f.write(json.dumps(big).encode() + b"\n")
        f.writelines(jsonl(PEOPLE[1:]))
    exc = assert_rejected(store, path, "line 2", "larger than the 2 MiB limit")
    assert len(exc.problems) == 1  # the lines after the huge one were read fine


def test_huge_csv_field_is_rejected(store, tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("id,name\n1,ok\n2," + "y" * (MAX_RECORD_BYTES + 10) + "\n", encoding="utf-8")
    assert_rejected(store, path, "larger than the 2 MiB limit")


def test_csv_with_quoted_newlines_bom_and_crlf(store, tmp_path):
    path = tmp_path / "people.csv"
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(["id", "name", "summary"])
        writer.writerow(["c1", "Ada", "line one\nline two, with comma"])
        writer.writerow(["c2", "Grace", 'says "hi"'])
    info = import_dataset(store, path)
    rows = list(iter_records(store, info.id))
    assert info.format == "csv" and [r.record_id for r in rows] == ["c1", "c2"]
    assert rows[0].data["summary"] == "line one\nline two, with comma"
    assert rows[1].data["summary"] == 'says "hi"'


def test_csv_row_with_wrong_width(store, tmp_path):
    path = tmp_path / "w.csv"
    path.write_text("id,name\n1,a\n2,b,extra\n", encoding="utf-8")
    assert_rejected(store, path, "row 2 (line 3)", "has 3 values but the header has 2")


def test_csv_invalid_utf8(store, tmp_path):
    path = tmp_path / "l.csv"
    path.write_bytes("id,name\n1,caf\xe9\n".encode("latin-1"))
    assert_rejected(store, path, "invalid UTF-8")


def test_csv_duplicate_header(store, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("id,name,name\n1,a,b\n", encoding="utf-8")
    assert_rejected(store, path, "appears twice", kind=UnreadableFile)


def test_parquet_import(store, tmp_path):
    path = tmp_path / "cands.parquet"
    records = list(generate_candidates(50))
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=16)
    info = import_dataset(store, path)
    rows = list(iter_records(store, info.id))
    assert info.format == "parquet" and len(rows) == 50
    assert rows[7].data["skills"] == records[7]["skills"]
    assert rows[7].subtitle == f"{records[7]['title']} @ {records[7]['company']}"


def test_zip_named_parquet(store, tmp_path):
    path = tmp_path / "bomb.parquet"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", b"0" * 1_000_000)
    assert_rejected(store, path, "not a valid Parquet file", kind=UnreadableFile)


def test_json_array_file(store, tmp_path):
    path = tmp_path / "arr.json"
    path.write_text(json.dumps(PEOPLE), encoding="utf-8")
    assert import_dataset(store, path).record_count == 2


def test_sample_dataset_imports(store):
    from workbench.service.workspace import sample_path

    info = import_dataset(store, sample_path())
    assert info.record_count == 100 and info.id_field == "id"
    assert info.title_field == "name" and info.subtitle_fields == ["title", "company"]


def _import_peak(store, path) -> int:
    tracemalloc.start()
    try:
        import_dataset(store, path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_import_memory_stays_flat(store, tmp_path):
    """8x the records must not need anywhere near 8x the memory: rows stream through in batches."""
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write_jsonl(small, 4_000)
    write_jsonl(large, 32_000)
    peak_small, peak_large = _import_peak(store, small), _import_peak(store, large)
    assert peak_large < 2.5 * peak_small, f"{peak_small / 1e6:.1f} MB -> {peak_large / 1e6:.1f} MB"
    assert peak_large < large.stat().st_size / 2


# ---- one rule for every reader (property-based) ---------------------------------------------------

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st  # noqa: E402

from workbench.domain.importers import read_rows  # noqa: E402
from workbench.domain.json_rules import MAX_DEPTH, json_problem  # noqa: E402

_scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
            | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**23, 1234567890123456789])
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(st.characters(codec=None, exclude_categories=["Cs"]) | st.sampled_from(["\ud800", "\udfff"]),
                      max_size=8))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)


@st.composite
def _records(draw):
    value = draw(_values)
    for _ in range(draw(st.sampled_from([0, 0, 1, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, 300]))):
        value = [value] if draw(st.booleans()) else {"k": value}
    return {"id": draw(st.integers(0, 10**6)), "value": value}


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_records(), min_size=1, max_size=4))
def test_jsonl_and_json_array_apply_the_same_rule(tmp_path, records):
    """Each record is refused by its line or item iff it breaks the JSON rule (json_rules), in
    JSONL and in a JSON array file alike; an accepted one is kept exactly (10**23 never as 1e+23)."""
    lines = tmp_path / "records.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    array = tmp_path / "records.json"
    array.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]")
    from_lines, from_array = list(read_rows(lines, "jsonl")), list(read_rows(array, "jsonl"))
    assert [r.location for r in from_lines] == [f"line {i}" for i in range(1, len(records) + 1)]
    assert [r.location for r in from_array] == [f"item {i}" for i in range(1, len(records) + 1)]
    # Refused alike (a record breaking the rule twice may be told either way), kept alike.
    assert [(r.problem is None, r.record) for r in from_lines] == [(r.problem is None, r.record) for r in from_array]
    for record, row in zip(records, from_lines, strict=True):
        assert (row.problem is None) == (json_problem(record) is None), (row.problem, record)
        if row.problem is None:
            assert row.record == record and repr(row.record) == repr(record)


def test_parquet_types_become_json_as_decided(store, tmp_path):
    """What a Parquet type becomes is decided, never what orjson's default=str happens to print:
    UTF-8 binary as text, decimals as exact text, durations as seconds, map entries as pairs,
    timestamps as ISO 8601; uint64 within 64 bits and nulls kept."""
    import datetime
    import decimal

    path = tmp_path / "types.parquet"
    pq.write_table(pa.table({
        "id": ["r1"], "blob": pa.array([b"caf\xc3\xa9"]), "price": [decimal.Decimal("12.50")],
        "wait": pa.array([1_500_000], pa.duration("us")), "tags": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
        "at": pa.array([datetime.datetime(2024, 5, 1, 12, 30)], pa.timestamp("us", tz="UTC")),
        "n": pa.array([2**63 - 1], pa.uint64()), "score": pa.array([None], pa.float64()),
        "nested": pa.array([{"b": b"x"}], pa.struct([("b", pa.binary())])),
    }), path)
    info = import_dataset(store, path)
    assert next(iter_records(store, info.id)).data == {
        "id": "r1", "blob": "café", "price": "12.50", "wait": 1.5, "tags": [["k", 1]],
        "at": "2024-05-01T12:30:00+00:00", "n": 2**63 - 1, "score": None, "nested": {"b": "x"}}


@pytest.mark.parametrize("column, problem", [
    (pa.array([[1.0], [float("nan")]], pa.list_(pa.float64())), "row 2: nan is not a JSON number"),
    (pa.array([1.0, float("-inf")]), "row 2: -inf is not a JSON number"),
    (pa.array([[1], [2**64 - 1]], pa.list_(pa.uint64())), "row 2: the number 18446744073709551615 is too large"),
])
def test_parquet_numbers_follow_the_json_rule(store, tmp_path, column, problem):
    path = tmp_path / "numbers.parquet"
    pq.write_table(pa.table({"id": ["r1", "r2"], "x": column}), path)
    assert_rejected(store, path, problem)


@pytest.mark.parametrize("suffix, write, where", [
    ("jsonl", lambda path: path.write_text('{"id": "r1"}\n{"id": "r2", "note": "a\\u0000b"}\n', encoding="utf-8"),
     "line 2"),
    ("json", lambda path: path.write_text('[{"id": "r1"}, {"id": "r2", "a\\u0000": 1}]', encoding="utf-8"), "item 2"),
    ("csv", lambda path: path.write_bytes(b"id,note\nr1,x\nr2,a\x00b\n"), "NUL byte at offset 17"),
    ("parquet", lambda path: pq.write_table(pa.table({"id": ["r1", "r2"], "note": ["x", "a\x00b"]}), path), "row 2"),
])
def test_nul_is_refused_by_every_importer_saying_where(store, tmp_path, suffix, write, where):
    """U+0000 can't be stored by PostgreSQL (text or jsonb): every reader refuses it, saying where."""
    path = tmp_path / f"nul.{suffix}"
    write(path)
    before = record_count(store)
    with pytest.raises((ImportRejected, UnreadableFile)) as info:
        import_dataset(store, path)
    message = str(info.value) + " ".join(getattr(info.value, "problems", []))
    assert ("U+0000" in message or "NUL" in message) and where in message, message
    assert record_count(store) == before

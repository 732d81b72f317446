"""Curated exports: every format is written to disk and parsed back."""

from __future__ import annotations

import csv
import inspect
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.domain import curated_exports as ce
from workbench.domain import summary_export as se
from workbench.domain.curated_exports import CuratedItem
from workbench.domain.datasets import RecordPlanner
from workbench.domain import exports as ex
from workbench.domain.exports import write_csv, write_jsonl, write_parquet
from workbench.domain.importers import read_rows
from workbench.domain.tasks import CANDIDATE_SCREENING

TASK = CANDIDATE_SCREENING
MODELS = ["gpt-x", "llama-y"]
FIELDS = TASK.field_names
VERDICTS = [name for name, _ in TASK.verdict_fields]


def ok(output, run_id=1, latency=120.5):
    return {"status": "ok", "output": output, "error_kind": None, "error_message": None,
            "latency_ms": latency, "tokens_in": 410, "tokens_out": 52, "attempts": 1, "cached": False,
            "run_id": run_id}


def error(kind="timeout"):
    return {"status": "error", "output": None, "error_kind": kind, "error_message": "timed out after 60s",
            "latency_ms": 60000.0, "tokens_in": None, "tokens_out": None, "attempts": 3, "cached": False,
            "run_id": 2}


def answer(rec, traj, ped, why):
    return {"recommendation": rec, "trajectory": traj, "pedigree": ped, "reasoning": why}


ADA = {"id": "c-001", "name": "Ada Lovelace", "title": "Staff Engineer", "company": "Analytical Engines",
       "years_experience": 12, "location": "London",
       "education": [{"degree": "BSc", "field": "Mathematics", "school": "University of London"}],
       "skills": ["Python", "Distributed systems"],
       "work_history": [{"start_year": 2015, "end_year": None, "title": "Staff Engineer",
                         "company": "Analytical Engines", "summary": "Led the compiler team"}]}
MALLORY = {"id": "c-002", "name": '=HYPERLINK("http://evil.example","click")', "title": "Engineer",
           "company": "Shady Ltd", "years_experience": 3, "skills": "Excel",
           "summary": "+1 formula-looking summary"}
GRACE = {"name": "Grace Hopper", "title": "Rear Admiral", "company": "US Navy", "years_experience": 40,
         "education": "PhD Mathematics, Yale", "summary": "Invented the first compiler"}
LINUS = {"id": "c-004", "name": "Linus Torvalds", "title": "Fellow", "company": "Linux Foundation",
         "years_experience": 30, "skills": ["C", "Git"]}

ADA_REF = answer("Strong Yes", "Strong", "Good", "Senior compiler lead with a steady climb.")
GRACE_REF = answer("Strong Yes", "Strong", "Strong", "Pioneer; corrected from the model's Yes.")
MALLORY_REF = answer("No", "Weak", "Weak", "Thin record.")


@pytest.fixture
def items() -> list[CuratedItem]:
    return [
        CuratedItem("c-001", "Ada Lovelace", "Staff Engineer @ Analytical Engines", ADA,
                    {"gpt-x": ok(ADA_REF), "llama-y": ok(answer("Yes", "Strong", "Good", "Solid senior."))},
                    reference=ADA_REF,
                    provenance={"source": "golden", "model_id": "gpt-x", "run_id": 1, "annotator": "sam",
                                "annotated_at": "2024-05-01T10:00:00Z"},
                    preference="gpt-x", note="gpt-x nails it"),
        CuratedItem("c-002", MALLORY["name"], "Engineer @ Shady Ltd", MALLORY,
                    {"gpt-x": ok(MALLORY_REF), "llama-y": error()},
                    reference=MALLORY_REF,
                    provenance={"source": "golden", "model_id": "gpt-x", "run_id": 1, "annotator": "sam",
                                "annotated_at": "2024-05-01T10:01:00Z"},
                    note="=cmd|' /C calc'!A0"),
        # No "id" field in the record: its id was generated at import.
        CuratedItem("9f1c2ab4", "Grace Hopper", "Rear Admiral @ US Navy", GRACE,
                    {"gpt-x": ok(answer("Yes", "Strong", "Strong", "Strong.")),
                     "llama-y": ok(answer("Yes", "Strong", "Strong", "Pioneer."))},
                    reference=GRACE_REF,
                    provenance={"source": "correction", "model_id": "llama-y", "run_id": 1, "annotator": "kim",
                                "annotated_at": "2024-05-02T09:00:00Z"},
                    preference="tie"),
        # Not curated, and one model has no result at all.
        CuratedItem("c-004", "Linus Torvalds", "Fellow @ Linux Foundation", LINUS,
                    {"gpt-x": ok(answer("Maybe", "Good", "Good", "Hmm.")), "llama-y": None}),
    ]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- streaming ---------------------------------------------------------------------------------

def test_row_functions_are_generators(items):
    assert inspect.isgenerator(ce.golden_rows(items))
    assert inspect.isgenerator(ce.training_rows(TASK, items))
    assert inspect.isgenerator(ce.comparison_rows(items, MODELS, TASK.verdict_fields))
    assert inspect.isgenerator(ce.wide_rows(items, MODELS, FIELDS))
    assert inspect.isgenerator(se.summary_rows({}))


def test_rows_are_pulled_lazily(items):
    pulled = []

    def source():
        for item in items:
            pulled.append(item.record_id)
            yield item

    rows = ce.golden_rows(source())
    assert pulled == []
    next(rows)
    assert pulled == ["c-001"]


# --- wide results ------------------------------------------------------------------------------

@pytest.mark.parametrize("fields", [FIELDS + ["extra"], ["status", "latency_ms", "notes"]],
                         ids=["task-fields", "fields-named-like-columns"])
def test_long_values_write_what_long_rows_write(items, tmp_path, fields):
    """The results export's fast path (rows as lists) writes byte for byte what the dict rows write."""
    items = [*items, CuratedItem("c-005", "-minus", "@at", {}, {
        "gpt-x": ok({"recommendation": ["Yes", {"why": "=1+1"}], "extra": {"n": 1}, "status": "+x",
                     "latency_ms": 7, "notes": True, "reasoning": 3.5}),
        "llama-y": {**ok("not an object"), "output": None, "cached": 1}})]
    columns = ex.result_columns(fields)
    for write, write_values, name in [(write_csv, ex.write_csv_values, "csv"),
                                      (write_parquet, ex.write_parquet_values, "parquet")]:
        assert write(ex.long_rows(items, fields), tmp_path / f"rows.{name}", columns) == 9
        assert write_values(ex.long_values(items, fields), tmp_path / f"values.{name}", columns) == 9
        assert (tmp_path / f"rows.{name}").read_bytes() == (tmp_path / f"values.{name}").read_bytes()


def test_wide_columns():
    assert ce.wide_columns(["m"], ["a", "b"]) == [
        "record_id", "title", "subtitle", "m.status", "m.a", "m.b", "m.error_kind", "m.latency_ms"]


def test_wide_csv_and_parquet(items, tmp_path):
    columns = ce.wide_columns(MODELS, FIELDS)
    assert write_csv(ce.wide_rows(items, MODELS, FIELDS), tmp_path / "wide.csv", columns) == 4
    header, rows = read_csv(tmp_path / "wide.csv")
    assert header == columns
    assert [r["record_id"] for r in rows] == ["c-001", "c-002", "9f1c2ab4", "c-004"]
    assert rows[0]["gpt-x.recommendation"] == "Strong Yes"
    assert rows[0]["llama-y.recommendation"] == "Yes"
    assert rows[1]["llama-y.status"] == "error" and rows[1]["llama-y.error_kind"] == "timeout"
    assert rows[1]["llama-y.recommendation"] == ""
    assert rows[1]["title"].startswith("'=HYPERLINK(")  # neutralised
    assert rows[3]["llama-y.status"] == ""

    assert write_parquet(ce.wide_rows(items, MODELS, FIELDS), tmp_path / "wide.parquet", columns) == 4
    table = pq.read_table(tmp_path / "wide.parquet")
    assert table.column_names == columns and table.num_rows == 4
    assert all(t == pa.string() for t in table.schema.types)  # wide columns are written as text
    assert table.column("gpt-x.latency_ms").to_pylist()[0] == "120.5"
    assert table.column("llama-y.error_kind").to_pylist()[1] == "timeout"


def test_wide_nested_values_are_json(tmp_path):
    item = CuratedItem("r1", "t", "s", {}, {"m": ok({"tags": ["a", "b"], "score": {"x": 1}})})
    row = next(ce.wide_rows([item], ["m"], ["tags", "score"]))
    assert json.loads(row["m.tags"]) == ["a", "b"] and json.loads(row["m.score"]) == {"x": 1}


# --- golden dataset ----------------------------------------------------------------------------

def test_golden_jsonl_keeps_ids_and_reimports(items, tmp_path):
    path = tmp_path / "golden.jsonl"
    assert write_jsonl(ce.golden_rows(items), path) == 3  # the uncurated record is left out
    rows = read_jsonl(path)
    assert [r["id"] for r in rows] == ["c-001", "c-002", "9f1c2ab4"]
    assert rows[0]["golden_answer"] == ADA_REF
    assert rows[0]["golden_provenance"]["source"] == "golden"
    assert rows[2]["golden_provenance"]["source"] == "correction"
    assert rows[0]["work_history"] == ADA["work_history"]  # the record's own fields, untouched
    assert {k: v for k, v in rows[2].items() if k not in ("id", "golden_answer", "golden_provenance")} == GRACE
    assert "id" not in GRACE  # the source record is not mutated

    # Importing the file as a dataset keeps the ids and the display fields.
    planner = RecordPlanner()
    prepared = list(planner.plan(read_rows(path, "jsonl")))
    planner.raise_if_rejected()
    assert [p.record_id for p in prepared] == ["c-001", "c-002", "9f1c2ab4"]
    assert [p.title for p in prepared][0] == "Ada Lovelace"
    assert prepared[2].title == "Grace Hopper"
    assert json.loads(prepared[0].data)["golden_answer"] == ADA_REF


# --- training data -----------------------------------------------------------------------------

def check_chat(messages, expected_answer):
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in messages)
    assert json.loads(messages[2]["content"]) == expected_answer
    assert messages[2]["content"] == json.dumps(expected_answer, separators=(",", ":"), ensure_ascii=False)


def test_training_example_matches_render():
    example = ce.training_example(TASK, ADA, ADA_REF)
    assert example["messages"][:2] == TASK.render(ADA)
    check_chat(example["messages"], ADA_REF)
    assert "Ada Lovelace" in example["messages"][1]["content"]


def test_finetune_jsonl(items, tmp_path):
    path = tmp_path / "train.jsonl"
    assert write_jsonl(ce.training_rows(TASK, items), path) == 3
    lines = read_jsonl(path)
    assert all(list(line) == ["messages"] for line in lines)
    for line, ref in zip(lines, [ADA_REF, MALLORY_REF, GRACE_REF], strict=True):
        check_chat(line["messages"], ref)
    assert "Grace Hopper" in lines[2]["messages"][1]["content"]


def test_hf_parquet(items, tmp_path):
    path = tmp_path / "train.parquet"
    assert ce.write_hf_parquet(ce.training_rows(TASK, items, with_id=True), path, batch=2) == 3
    table = pq.read_table(path)
    assert table.num_rows == 3
    schema = table.schema
    assert schema.names == ["id", "messages", "prompt", "completion", "system"]
    assert schema.field("id").type == pa.string()
    messages_type = schema.field("messages").type
    assert pa.types.is_list(messages_type) and pa.types.is_struct(messages_type.value_type)
    assert [messages_type.value_type.field(i).name for i in range(2)] == ["role", "content"]
    assert all(messages_type.value_type.field(i).type == pa.string() for i in range(2))
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == ["c-001", "c-002", "9f1c2ab4"]
    for row, ref in zip(rows, [ADA_REF, MALLORY_REF, GRACE_REF], strict=True):
        check_chat(row["messages"], ref)
        assert row["system"] == row["messages"][0]["content"]
        assert row["prompt"] == row["messages"][1]["content"]
        assert json.loads(row["completion"]) == ref


def test_hf_parquet_empty_and_failed_write(tmp_path):
    path = tmp_path / "empty.parquet"
    assert ce.write_hf_parquet(iter(()), path) == 0
    assert pq.read_table(path).num_rows == 0

    def broken():
        yield ce.training_example(TASK, ADA, ADA_REF)
        raise RuntimeError("store went away")

    target = tmp_path / "out" / "broken.parquet"
    with pytest.raises(RuntimeError):
        ce.write_hf_parquet(broken(), target)
    assert list(target.parent.iterdir()) == []  # nothing left behind, not even a temp file


# --- few-shot ----------------------------------------------------------------------------------

def test_few_shot_block_and_messages():
    examples = [(ADA, ADA_REF), (GRACE, GRACE_REF)]
    block = ce.few_shot_block(TASK, examples)
    assert block.startswith("Example 1\nCandidate: Ada Lovelace")
    assert "\n\nExample 2\nCandidate: Grace Hopper" in block
    for _, ref in examples:
        assert "Answer: " + json.dumps(ref, separators=(",", ":"), ensure_ascii=False) in block
    assert not block.endswith("\n")
    assert "Linus" not in block  # the record being judged is never among the examples

    turns = ce.few_shot_messages(TASK, examples)
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert TASK.render(LINUS, examples=examples) == [TASK.render(LINUS)[0], *turns, TASK.render(LINUS)[1]]
    assert ce.few_shot_block(TASK, []) == "" and ce.few_shot_messages(TASK, []) == []


# --- comparison report and summary -------------------------------------------------------------

def test_comparison_csv(items, tmp_path):
    columns = ce.comparison_columns(MODELS, TASK.verdict_fields)
    assert columns[:3] == ["record_id", "title", "subtitle"]
    assert "gpt-x.recommendation" in columns and "llama-y.pedigree" in columns
    assert "gpt-x.reasoning" not in columns  # only verdict fields
    assert [c for c in columns if c.startswith("reference.")] == [f"reference.{f}" for f in VERDICTS]
    assert ce.comparison_columns(MODELS, VERDICTS) == columns  # names work too

    path = tmp_path / "comparison.csv"
    assert write_csv(ce.comparison_rows(items, MODELS, TASK.verdict_fields), path, columns) == 4
    header, rows = read_csv(path)
    assert header == columns
    ada, mallory, grace, linus = rows
    assert ada["agreement"] == "no" and ada["disagree_fields"] == "recommendation"
    assert ada["preference"] == "gpt-x" and ada["note"] == "gpt-x nails it"
    assert ada["reference.recommendation"] == "Strong Yes"
    assert mallory["agreement"] == "" and mallory["llama-y.recommendation"] == ""  # error: not a valid answer
    assert mallory["note"] == "'=cmd|' /C calc'!A0" and mallory["title"].startswith("'=HYPERLINK(")
    assert grace["agreement"] == "yes" and grace["disagree_fields"] == "" and grace["preference"] == "tie"
    assert grace["reference.recommendation"] == "Strong Yes"
    assert linus["agreement"] == "" and linus["reference.recommendation"] == ""


METRICS = {
    "records": 4,
    "models": {"gpt-x": {"answered": 4, "errors": 0, "errors_by_kind": {}, "mean_latency_ms": 120.5,
                         "tokens_in": 1640, "tokens_out": 208},
               "llama-y": {"answered": 2, "errors": 1, "errors_by_kind": {"timeout": 1}}},
    "agreement": {"recommendation": [{"models": ["gpt-x", "llama-y"], "n": 2, "percent": 50.0, "kappa": 0.0}]},
    "accuracy": {"gpt-x": {"n": 3, "correct": 2, "accuracy": 0.667,
                           "by_field": {"recommendation": {"n": 3, "correct": 2, "accuracy": 0.667}}}},
    "win_rate": {"gpt-x": {"wins": 1, "n": 2, "rate": 0.5}},
    "preferences": {"n": 2, "tie": 1},
    "confusion": {"gpt-x": {"labels": ["Strong Yes", "No"], "matrix": [[1, 0], [0, 1]], "n": 2}},
}


def test_summary_csv(tmp_path):
    path = tmp_path / "summary.csv"
    n = write_csv(se.summary_rows(METRICS), path, se.summary_columns())
    header, rows = read_csv(path)
    assert header == ["section", "model", "other", "field", "metric", "value"] and len(rows) == n

    def find(**kw):
        return [r for r in rows if all(r[k] == v for k, v in kw.items())]

    assert find(section="overview", metric="records")[0]["value"] == "4"
    assert find(section="models", model="llama-y", metric="errors")[0]["value"] == "1"
    assert find(section="errors", model="llama-y", metric="timeout")[0]["value"] == "1"
    assert not find(section="models", model="llama-y", metric="tokens_in")  # missing keys are skipped
    pair = find(section="agreement", model="gpt-x", other="llama-y", field="recommendation", metric="kappa")
    assert pair[0]["value"] == "0.0"
    assert find(section="accuracy", model="gpt-x", field="recommendation", metric="correct")[0]["value"] == "2"
    assert find(section="accuracy", model="gpt-x", field="", metric="accuracy")[0]["value"] == "0.667"
    assert find(section="win_rate", model="gpt-x", metric="rate")[0]["value"] == "0.5"
    assert find(section="preferences", metric="tie")[0]["value"] == "1"
    assert not find(section="preferences", metric="all_bad")
    cells = find(section="confusion", model="gpt-x", metric="count")
    assert len(cells) == 4
    assert find(section="confusion", field="Strong Yes", other="Strong Yes")[0]["value"] == "1"
    assert find(section="confusion", field="Strong Yes", other="No")[0]["value"] == "0"


def test_summary_tolerates_sparse_metrics():
    assert list(se.summary_rows({})) == []
    assert list(se.summary_rows({"models": {"m": None}, "agreement": {"f": [{}]}, "confusion": {"m": {}}})) == []
    assert [r["metric"] for r in se.summary_rows({"records": 0})] == ["records"]

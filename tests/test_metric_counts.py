"""The Metrics figures counted by the database (store/metric_counts, service.metrics.compute_metrics)
are the figures of reading every record in Python (compute_metrics_by_walking): on random small
datasets with errors, cached answers, missing and odd verdict values, verdict keys that can't say,
two runs of one model, runs whose tasks differ, reference labels and preferences."""

from __future__ import annotations

import itertools
from collections import Counter
import json
import math
from array import array

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from workbench.domain.comparison import verdict_key
from workbench.domain.errors import WorkbenchError
from workbench.domain.models import build_model
from workbench.domain.tasks import CANDIDATE_SCREENING, Task
from workbench.service.metric_cache import metric_cache
from workbench.service.metrics import compute_metrics, compute_metrics_by_walking
from workbench.store import metric_counts
from workbench.store.annotations import annotate
from workbench.store.datasets import import_dataset
from workbench.store.models import save_model
from workbench.store.results import ResultRow, RunUpdate, write_batch
from workbench.store.runs import clear_errors, create_run
from workbench.store.tasks import get_task, save_task

REC = ["Strong Yes", "Yes", "Maybe", "No", "Strong No"]
GRADES = ["Strong", "Good", "Average", "Weak"]
RATING = ["1", "2", "3", "4", "5"]


def _schema(properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": [], "additionalProperties": True}


def _task(name: str, fields: dict[str, list]) -> Task:
    """A task like candidate-screening with these verdict fields (in this order) and a reason."""
    props = {f: {"type": "string", "enum": options} for f, options in fields.items()} | {"reasoning": {"type": "string"}}
    return Task(name=name, system=CANDIDATE_SCREENING.system, user=CANDIDATE_SCREENING.user,
                output_schema=_schema(props), primary_verdict=next(iter(fields)))


TASKS = {
    "screening": None,  # the built-in candidate-screening
    # The same verdict fields in another order, one more, and numbers' text as options.
    "reordered": {"rating": RATING, "pedigree": GRADES, "recommendation": REC, "trajectory": GRADES},
    "other": {"recommendation": REC, "tone": ["warm", "cold"]},  # lacks trajectory and pedigree
}

# What an answer's verdict field may hold: an option, nothing, or what no option is.
ODD = [None, "", "weird", 1, 2.5, True, "a\x1fb", "x\x1ey", "Strong\x1fYes"]  # (a list is no label: unhashable)


def value_for(options: list):
    return st.one_of(st.sampled_from(options), st.sampled_from(["<missing>", *ODD]))


@st.composite
def answers(draw, fields: dict[str, list]):
    if draw(st.integers(0, 9)) == 0:
        return None  # "ok" without an output
    out = {}
    for name, options in fields.items():
        value = draw(value_for(options)) if draw(st.integers(0, 4)) == 0 else draw(st.sampled_from(options))
        if value != "<missing>":
            out[name] = value
    return out | {"reasoning": "because"}


@st.composite
def scenarios(draw):
    records = draw(st.integers(1, 10))
    columns = []
    for _ in range(draw(st.integers(2, 3))):
        columns.append((draw(st.sampled_from(["gemma", "olmo"])),
                        draw(st.sampled_from(list(TASKS)) if draw(st.booleans()) else st.just("screening"))))
    results = []
    for _model, task_name in columns:
        fields = TASKS[task_name] or {"recommendation": REC, "trajectory": GRADES, "pedigree": GRADES}
        rows = {}
        for seq in range(1, records + 1):
            kind = draw(st.sampled_from(["ok", "ok", "ok", "none", "error"]))
            if kind == "none":
                continue
            if kind == "error":
                rows[seq] = ("error", draw(st.sampled_from(["http", "timeout", None, ""])), None, None)
                continue
            output = draw(answers(fields))
            key = verdict_key(output, list(fields)) if draw(st.integers(0, 9)) else None  # a key from before keys
            rows[seq] = ("ok", None, output, key)
        results.append({seq: (row, draw(st.booleans()), draw(st.sampled_from([None, 4.0, 12.5])),
                              draw(st.sampled_from([None, 3]))) for seq, row in rows.items()})
    labels = draw(st.lists(st.tuples(st.integers(1, records), st.integers(0, len(columns) - 1),
                                      st.sampled_from(["golden", "correction"])), max_size=6))
    preferences = draw(st.lists(st.tuples(st.integers(1, records),
                                          st.sampled_from(["tie", "all_bad", 0, 1, 2, "gone"])), max_size=4))
    return records, columns, results, labels, preferences


_names = itertools.count()


def build(store, tmp_path, scenario) -> tuple[str, list[str]]:
    records, columns, results, labels, preferences = scenario
    n = next(_names)
    source = tmp_path / f"d{n}.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "name": f"Person {i}", "title": "Engineer"}) + "\n"
                              for i in range(1, records + 1)))
    dataset = import_dataset(store, source, name=f"d{n}")
    run_columns = []
    for (model, task_name), rows in zip(columns, results, strict=True):
        spec = TASKS[task_name]
        task = get_task(store, "candidate-screening") if spec is None else save_task(store, _task(task_name, spec))
        config = build_model({"id": model, "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": model})
        save_model(store, config)
        run = create_run(store, dataset_id=dataset.id, model=config, task_name=task.name, task_version=task.version,
                         total=records, options={})
        written = [ResultRow(seq, f"r{seq}", status, output, kind, "failed" if status == "error" else None, None,
                             latency, tokens, tokens, 1, cached, key, None)
                   for seq, ((status, kind, output, key), cached, latency, tokens) in rows.items()]
        write_batch(store, [RunUpdate(run.id, written, [], {
            "run_id": run.id, "done": 0, "errors": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0,
            "active_seconds": 0, "model_id": model, "dataset_id": dataset.id})])
        run_columns.append(f"run:{run.id}")
    fixed = {"recommendation": "Maybe", "trajectory": "Good", "pedigree": "Weak", "tone": "warm", "rating": "3",
             "reasoning": "fixed"}
    for seq, column, field in labels:
        run_id = int(run_columns[column].split(":")[1])
        try:
            annotate(store, dataset_id=dataset.id, record_id=f"r{seq}", field=field, run_id=run_id, author="t",
                     value=True if field == "golden" else fixed)
        except WorkbenchError:
            pass  # e.g. a correction that isn't that task's answer
    for seq, preferred in preferences:
        value = run_columns[preferred] if isinstance(preferred, int) and preferred < len(run_columns) else preferred
        if value == "gone" or isinstance(value, int):
            continue
        annotate(store, dataset_id=dataset.id, record_id=f"r{seq}", field="preference", value=value, author="t")
    return dataset.id, run_columns


def rounded(value):
    """Figures with floats to 9 digits: SQL may sum the latencies in another order."""
    if isinstance(value, float):
        return value if math.isnan(value) else round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    return value


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                              HealthCheck.too_slow])
@given(scenario=scenarios(), first=st.integers(0, 2))
def test_counted_by_the_database_as_walking_every_record(store, tmp_path, scenario, first):
    dataset_id, columns = build(store, tmp_path, scenario)
    columns = columns[first:] + columns[:first]  # the first column's task is the one compared on
    assert rounded(compute_metrics(store, dataset_id, columns)) == rounded(
        compute_metrics_by_walking(store, dataset_id, columns))
    metric_cache(store).clear()  # computed again, a run's scan at a time as the warm-up does
    assert rounded(compute_metrics(store, dataset_id, columns, scans=1)) == rounded(
        compute_metrics_by_walking(store, dataset_id, columns))


def test_one_column_and_model_ids(store, tmp_path):
    scenario = (4, [("gemma", "screening"), ("olmo", "screening")],
                [{s: (("ok", None, {"recommendation": "Yes", "trajectory": "Good", "pedigree": "Weak"},
                       "Yes\x1fGood\x1fWeak"), False, 4.0, 3) for s in range(1, 5)},
                 {s: (("error", "http", None, None), False, None, None) for s in range(1, 3)}],
                [(1, 0, "golden")], [(2, "tie")])
    dataset_id, _ = build(store, tmp_path, scenario)
    for columns in (["gemma"], ["gemma", "olmo"], None):
        fast = compute_metrics(store, dataset_id, columns)
        assert rounded(fast) == rounded(compute_metrics_by_walking(store, dataset_id, columns))
    assert fast["models"]["gemma"]["answered"] == 4 and fast["models"]["olmo"]["errors_by_kind"] == {"http": 2}
    assert fast["agreement"]["recommendation"][0]["n"] == 0 and fast["preferences"]["tie"] == 1


def test_verdict_codes_and_labels(store, tmp_path):
    fields = ["recommendation", "trajectory", "pedigree"]
    scenario = (6, [("gemma", "screening"), ("olmo", "screening")],
                [{1: (("ok", None, {"recommendation": "Yes"}, "Yes\x1f\x1f"), False, 1.0, 1),
                  3: (("ok", None, {"recommendation": "No", "trajectory": "Good", "pedigree": "Weak"},
                       "No\x1fGood\x1fWeak"), True, 2.0, 1),
                  4: (("error", "timeout", None, None), False, 3.0, None),
                  5: (("ok", None, {"recommendation": "x\x1ey"}, "x\x1ey\x1f\x1f"), False, None, 1)},
                 {s: (("ok", None, {"recommendation": "Yes", "trajectory": "Good", "pedigree": "Weak"},
                       "Yes\x1fGood\x1fWeak"), False, 1.0, 1) for s in range(1, 7)}],
                [], [])
    dataset_id, columns = build(store, tmp_path, scenario)
    gemma, olmo = (int(c.split(":")[1]) for c in columns)
    codes = metric_counts.verdict_codes(store, gemma)  # gaps and a separator inside a key: read by rows
    assert [codes.keys[c] for c in codes.codes] == [None, "Yes\x1f\x1f", None, "No\x1fGood\x1fWeak", None,
                                                   "x\x1ey\x1f\x1f"]
    full = metric_counts.verdict_codes(store, olmo)  # every record from 1 to 6: one string
    assert isinstance(full.codes, array) and len(full.codes) == 7 and full.codes[0] == 0
    joint = metric_counts.joint_codes(codes, full)
    assert sum(joint.values()) == 3
    own = get_task(store, "candidate-screening").verdict_fields
    assert metric_counts.key_labels("No\x1fGood\x1fWeak", own, ["pedigree", "recommendation"]) == ("Weak", "No")
    for unreadable in ("Yes\x1f\x1f", "Yes\x1fGood", "Perhaps\x1fGood\x1fWeak", "", None):
        assert metric_counts.key_labels(unreadable, own, fields) is None
    health = metric_counts.run_health(store, gemma)
    assert health == {"answered": 3, "errors_by_kind": {"timeout": 1}, "latency_sum": 4.0, "latency_n": 2,
                      "tokens_in": 3, "tokens_out": 3}
    assert metric_counts.record_count(store, dataset_id) == 6


@pytest.mark.parametrize("options", [[1, 2, 3], [True, False], ["1", 1]])
def test_key_labels_of_options_that_are_not_text(options):
    own = [("score", options)]
    labels = [metric_counts.key_labels(str(option), own, ["score"]) for option in options]
    if len({str(o) for o in options}) == len(options):
        assert labels == [(option,) for option in options]  # the option itself, not its text
    else:
        assert labels == [None, None]  # "1" or 1: the key can't say


def test_joint_codes_of_many_keys():
    many = metric_counts.VerdictCodes(array("H", [0, 300, 2, 300, 0]), [None] + [f"k{i}" for i in range(1, 301)])
    few = metric_counts.VerdictCodes(array("B", [0, 1, 1, 2]), [None, "a", "b"])
    assert metric_counts.joint_codes(many, few) == {(300, 1): 1, (2, 1): 1, (300, 2): 1}
    assert metric_counts.joint_codes(few, few) == {(1, 1): 2, (2, 2): 1}


@hypothesis_settings(max_examples=200, deadline=None)
@given(a=st.lists(st.integers(0, 3), max_size=40), b=st.lists(st.integers(0, 3), max_size=40),
       wide=st.booleans(), at_once=st.integers(1, 9))
def test_joint_codes_counted_a_slice_at_a_time_are_those_of_the_whole(a, b, wide, at_once):
    """Counter's C loop holds the GIL: the pairs are counted a slice at a time, wherever they end."""
    typecode = "H" if wide else "B"
    keys = [None, "w", "x", "y"]
    codes_a, codes_b = (metric_counts.VerdictCodes(array(typecode, c), keys) for c in (a, b))
    whole = {pair: n for pair, n in Counter(zip(a, b, strict=False)).items() if all(pair)}  # both answered
    original = metric_counts._COUNTED_AT_ONCE
    metric_counts._COUNTED_AT_ONCE = at_once
    try:
        assert metric_counts.joint_codes(codes_a, codes_b) == whole
    finally:
        metric_counts._COUNTED_AT_ONCE = original


def test_figures_are_kept_until_what_they_count_changes(store, tmp_path, monkeypatch):
    fields = ["recommendation", "trajectory", "pedigree"]
    good = {"recommendation": "Yes", "trajectory": "Good", "pedigree": "Weak"}
    scenario = (5, [("gemma", "screening"), ("olmo", "screening")],
                [{s: (("ok", None, good, verdict_key(good, fields)), False, 4.0, 3) for s in range(1, 4)},
                 {s: (("error", "http", None, None), False, None, None) for s in range(1, 5)}], [], [])
    dataset_id, columns = build(store, tmp_path, scenario)
    olmo = int(columns[1].split(":")[1])

    def same() -> dict:
        fast = compute_metrics(store, dataset_id, columns)
        assert rounded(fast) == rounded(compute_metrics_by_walking(store, dataset_id, columns))
        return fast

    first = same()
    scans = []
    for name in ("run_health", "verdict_codes"):
        counted = getattr(metric_counts, name)
        monkeypatch.setattr(metric_counts, name, lambda s, run_id, counted=counted: scans.append(run_id) or counted(s, run_id))
    assert compute_metrics(store, dataset_id, columns) == first and scans == []  # kept
    compute_metrics(store, dataset_id, columns)["records"] = -1  # a copy each time
    assert compute_metrics(store, dataset_id, columns)["records"] == 5
    annotate(store, dataset_id=dataset_id, record_id="r1", field="golden", value=True, model_id="gemma", author="t")
    assert same()["accuracy"]["run:" + columns[0].split(":")[1]]["n"] == 1 and scans == []  # the runs' counts kept
    clear_errors(store, olmo)  # a retry takes the errors away
    out = {**good, "recommendation": "No"}
    write_batch(store, [RunUpdate(olmo, [ResultRow(s, f"r{s}", "ok", out, None, None, None, 2.0, 1, 1, 1, False,
                                                   verdict_key(out, fields), None) for s in (1, 2)], [], {
        "run_id": olmo, "done": 2, "errors": 0, "tokens_in": 0, "tokens_out": 0, "cost": 0, "active_seconds": 0,
        "model_id": "olmo", "dataset_id": dataset_id})])
    after = same()
    assert scans == [olmo, olmo] and after["agreement"]["recommendation"][0]["n"] == 2


@hypothesis_settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.sampled_from(["", "Yes\x1fGood", "No\x1fWeak", "Yes\x1fWeak", "é\x1f"]), min_size=1,
                     max_size=60), low=st.integers(1, 5), chunk=st.integers(1, 40))
def test_the_keys_string_split_a_chunk_at_a_time_gives_the_codes_of_the_whole(keys, low, chunk):
    """The scan's keys string is split a chunk at a time (a list of a million keys is ~90 MB per run):
    the codes and keys are those of splitting it whole, wherever the chunks end."""
    text = metric_counts._PIECES.join(keys)
    whole = metric_counts._encode(list(range(low, low + len(keys))), keys, low + len(keys) - 1)
    original = metric_counts._CHUNK
    metric_counts._CHUNK = chunk
    try:
        chunked = metric_counts._encode_text(text, low, low + len(keys) - 1)
    finally:
        metric_counts._CHUNK = original
    assert list(chunked.codes) == list(whole.codes) and chunked.keys == whole.keys
    assert chunked.codes.typecode == whole.codes.typecode

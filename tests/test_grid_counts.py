"""Filter counts agree with the rows each filter shows, and the most-contested-first order agrees
with each row's disagreements, through results, errors and every kind of annotation as they
change (both rest on per-record marks updated incrementally, so each step is checked)."""

from __future__ import annotations

import dataclasses
import json
import random
import time

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testkit.scale import answer
from workbench.domain.comparison import verdict_key
from workbench.domain.models import build_model
from workbench.domain.annotations import AnnotationError
from workbench.store.annotations import annotate
from workbench.store.datasets import import_dataset
from workbench.grid.counts import grid_counts
from workbench.grid.page import grid_page
from workbench.grid.selection import FILTERS, GridQuery
from workbench.store.models import save_model
from workbench.store.results import ResultRow, RunUpdate, write_batch
from workbench.store.runs import clear_errors, create_run, get_run, recount
from workbench.store.schema import annotations
from workbench.store.tasks import get_task
from workbench.service.workspace import sample_path

MODELS = ("gemma", "olmo", "phi")


@pytest.fixture
def grid_store(store):
    task = get_task(store, "candidate-screening")
    dataset = import_dataset(store, sample_path(), name="cands")
    runs = {}
    for model in MODELS:
        config = build_model({"id": model, "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": model})
        save_model(store, config)
        runs[model] = create_run(store, dataset_id=dataset.id, model=config, task_name=task.name,
                                 task_version=task.version, total=dataset.record_count, options={}).id
    return store, dataset.id, runs, [n for n, _ in task.verdict_fields]


def write_results(store, dataset_id, run_id, model, seqs, fields, *, errors=()):
    rows = []
    for seq in seqs:
        record_id = f"cand-{seq:06d}"
        if seq in errors:
            rows.append(ResultRow(seq, record_id, "error", None, "http", "HTTP 500", None, 5.0, None, None, 1, False,
                                  None, None))
        else:
            out = answer(record_id, model)
            rows.append(ResultRow(seq, record_id, "ok", out, None, None, None, 5.0, 10, 10, 1, False,
                                  verdict_key(out, fields), out["recommendation"]))
    write_batch(store, [RunUpdate(run_id, rows, [], {"run_id": run_id, "done": 0, "errors": 0, "tokens_in": 0,
                                                     "tokens_out": 0, "cost": 0, "active_seconds": 0,
                                                     "model_id": model, "dataset_id": dataset_id})])


def every_row(store, query: GridQuery, limit: int = 500) -> list[dict]:
    rows, cursor = [], None
    while True:
        page, cursor = grid_page(store, query, cursor=cursor, limit=limit)
        rows += page
        if cursor is None:
            return rows


def shown(store, query: GridQuery) -> dict[str, int]:
    return {name: len(every_row(store, dataclasses.replace(query, filter=name))) for name in FILTERS}


def check_contested_order(store, query: GridQuery) -> None:
    for name in ("all", "differences", "needs_review", "golden"):
        in_order = every_row(store, dataclasses.replace(query, filter=name))
        contested = every_row(store, dataclasses.replace(query, filter=name, sort="disagreement"), limit=7)
        expected = sorted(in_order, key=lambda r: (-len(r["disagree_fields"]), r["seq"]))
        assert [r["seq"] for r in contested] == [r["seq"] for r in expected], (name, query)


def queries(dataset_id, runs, fields):
    two = {m: runs[m] for m in MODELS[:2]}
    return [
        GridQuery(dataset_id, dict(runs), fields),
        GridQuery(dataset_id, two, fields),
        GridQuery(dataset_id, dict(runs), fields, q="a"),
        GridQuery(dataset_id, dict(runs), fields, diff_field="trajectory"),
        GridQuery(dataset_id, two, fields, verdicts=[("gemma", "recommendation", "Yes")]),
        GridQuery(dataset_id, {"gemma": runs["gemma"]}, fields),
        GridQuery(dataset_id, {"olmo": runs["olmo"]}, fields),  # needs review = its errors alone
        GridQuery(dataset_id, {}, fields),
        GridQuery(dataset_id, dict(runs), fields, text_verdicts=True),  # verdicts read from the keys
        GridQuery(dataset_id, two, fields, diff_field="trajectory", text_verdicts=True),
    ]


def test_counts_match_the_filters_through_results_and_annotations(grid_store):
    store, dataset_id, runs, fields = grid_store
    rng = random.Random(7)

    def check():
        for query in queries(dataset_id, runs, fields):
            assert grid_counts(store, query) == shown(store, query), query
            check_contested_order(store, query)

    check()  # nothing run yet
    write_results(store, dataset_id, runs["gemma"], "gemma", range(1, 101), fields, errors={3, 40})
    write_results(store, dataset_id, runs["olmo"], "olmo", range(1, 61), fields, errors={40, 41})
    check()  # a run part way: the cached results part must see the new results
    write_results(store, dataset_id, runs["olmo"], "olmo", range(61, 101), fields)
    write_results(store, dataset_id, runs["phi"], "phi", range(1, 101), fields, errors={7})
    check()
    choices = [("golden", lambda: rng.choice([True, False])),
               ("judgement", lambda: rng.choice(["good", "wrong", None])),
               ("correction", lambda: rng.choice([None, dict(answer("x", "y"), recommendation="Maybe")])),
               ("preference", lambda: rng.choice([*MODELS, "tie", None])), ("note", lambda: rng.choice(["hm", None]))]
    for step in range(40):
        field, value = rng.choice(choices)
        seq = rng.choice([3, 7, 40, 41, *rng.sample(range(1, 101), 3)])
        try:
            annotate(store, dataset_id=dataset_id, record_id=f"cand-{seq:06d}", field=field, value=value(),
                     model_id=rng.choice(MODELS), author="tester")
        except AnnotationError:
            continue  # e.g. golden on an error: refused, nothing changes
        if step % 5 == 4:
            check()
    clear_errors(store, runs["olmo"])  # results removed: the cached part must notice
    check()


def test_counts_when_seqs_have_a_gap(grid_store):
    """Marks are read as one string per piece when seqs run 1..N (always, after an import); a gap
    takes the row-by-row way, with the same answers."""
    from workbench.store.schema import records

    store, dataset_id, runs, fields = grid_store
    write_results(store, dataset_id, runs["gemma"], "gemma", range(1, 101), fields, errors={3})
    write_results(store, dataset_id, runs["olmo"], "olmo", range(1, 101), fields)
    with store.engine.begin() as conn:
        conn.execute(records.delete().where(records.c.dataset_id == dataset_id, records.c.seq == 50))
    query = GridQuery(dataset_id, {m: runs[m] for m in MODELS[:2]}, fields)
    assert grid_counts(store, query) == shown(store, query)
    assert grid_counts(store, query)["all"] == 99
    check_contested_order(store, query)
    searched = dataclasses.replace(query, q="a")
    assert grid_counts(store, searched) == shown(store, searched)
    check_contested_order(store, searched)


def test_a_finished_run_stands_in_for_the_records(grid_store):
    """A first scan is driven by a run that has answered every record, by its counter, when there
    is one (a lookup fewer per record); its marks are those read through the records, and a
    counter that is wrong only costs a second read."""
    from workbench.grid import marks
    from workbench.store.schema import runs as runs_table
    from workbench.grid.selection import Joins

    store, dataset_id, runs, fields = grid_store
    write_results(store, dataset_id, runs["gemma"], "gemma", range(1, 101), fields, errors={3, 40})
    write_results(store, dataset_id, runs["olmo"], "olmo", range(1, 61), fields, errors={40, 41})
    write_results(store, dataset_id, runs["phi"], "phi", range(1, 101), fields, errors={7})
    for model in MODELS:
        recount(store, runs[model])
    annotate(store, dataset_id=dataset_id, record_id="cand-000005", field="golden", value=True, model_id="phi",
             author="tester")

    def check_first_scans():
        for query in queries(dataset_id, runs, fields):
            marks.forget(store)  # each selection's first scan
            assert grid_counts(store, query) == shown(store, query), query
            check_contested_order(store, query)

    with store.engine.connect() as conn:
        assert marks._likely_complete_run(conn, GridQuery(dataset_id, dict(runs), fields), 100) in ("gemma", "phi")
        assert marks._likely_complete_run(conn, GridQuery(dataset_id, {"olmo": runs["olmo"]}, fields), 100) is None
    check_first_scans()
    with store.engine.begin() as conn:  # olmo's counter says it has answered all 100: it has 60
        conn.execute(runs_table.update().where(runs_table.c.id != runs["olmo"]).values(done=0))
        conn.execute(runs_table.update().where(runs_table.c.id == runs["olmo"]).values(done=100))
    with store.engine.connect() as conn:
        assert marks._likely_complete_run(conn, GridQuery(dataset_id, dict(runs), fields), 100) == "olmo"
    check_first_scans()
    with pytest.raises(ValueError):  # a search needs the records
        Joins(GridQuery(dataset_id, dict(runs), fields, q="a"), store.dialect, "gemma")


def test_warm_up_counts_the_default_selection_of_big_datasets(grid_store, monkeypatch):
    """`serve` warms the counts of the newest big datasets as it starts: the page's first counts,
    with the models in any order, then come from the marks built, not from a scan."""
    from workbench.grid import marks
    from workbench.grid.counts import warm_up

    store, dataset_id, runs, fields = grid_store
    for model in MODELS:
        write_results(store, dataset_id, runs[model], model, range(1, 101), fields, errors={9})
    marks.forget(store)
    assert warm_up(store, min_records=101) == []  # too small to need it
    assert warm_up(store, min_records=100) == [dataset_id]

    def no_scan(*args, **kwargs):
        raise AssertionError("scanned again")

    monkeypatch.setattr(marks, "_all_marks", no_scan)
    query = GridQuery(dataset_id, {m: runs[m] for m in reversed(MODELS)}, fields)
    assert grid_counts(store, query) == shown(store, query)


# A whole corrected answer, the same as a model's "Yes, Strong": fixing one column can end a difference.
FIXED_YES = '{"recommendation": "Yes", "trajectory": "Strong", "pedigree": "Good", "reasoning": "fixed"}'
SEQS = range(1, 9)  # the records the random examples write to (the others have no results or notes)
outcome = st.one_of(st.none(), st.just("error"),
                    st.tuples(st.sampled_from(["Yes", "No"]), st.sampled_from(["Strong", "Weak"])))
answer_note = st.fixed_dictionaries({"golden": st.booleans(), "judgement": st.sampled_from([None, "good", "wrong"]),
                                     "correction": st.sampled_from([None, '{"recommendation": "Maybe"}', FIXED_YES])})
record_note = st.fixed_dictionaries({"preference": st.sampled_from([None, "gemma", "tie"]),
                                     "note": st.sampled_from([None, "hm"])})
example = st.fixed_dictionaries({
    "results": st.dictionaries(st.tuples(st.sampled_from(MODELS), st.sampled_from(SEQS)), outcome, max_size=20),
    "notes": st.dictionaries(st.tuples(st.sampled_from(MODELS + ("",)), st.sampled_from(SEQS)),
                             st.one_of(answer_note, record_note), max_size=10),
    "selected": st.lists(st.sampled_from(MODELS), min_size=1, max_size=3, unique=True),
    "q": st.sampled_from([None, "a"]),
})


def write_example(store, dataset_id, runs, fields, case) -> dict[str, int]:
    """Fresh runs holding the example's results, and its annotations as the only ones."""
    run_ids = {}
    updates = []
    for model in MODELS:
        first = get_run(store, runs[model])
        run_id = create_run(store, dataset_id=dataset_id, model=first.model, task_name=first.task_name,
                            task_version=first.task_version, total=100, options={}).id
        run_ids[model] = run_id
        rows = []
        for (m, seq), result in sorted(case["results"].items()):
            if m != model or result is None:
                continue
            record_id = f"cand-{seq:06d}"
            if result == "error":
                rows.append(ResultRow(seq, record_id, "error", None, "http", "HTTP 500", None, 5.0, 0, 0, 1, False))
                continue
            out = {"recommendation": result[0], "trajectory": result[1], "pedigree": "Good", "reasoning": "r"}
            rows.append(ResultRow(seq, record_id, "ok", out, None, None, None, 5.0, 1, 1, 1, False,
                                  verdict_key(out, fields), out["recommendation"]))
        updates.append(RunUpdate(run_id, rows, [], {"run_id": run_id, "done": 0, "errors": 0, "tokens_in": 0,
                                                    "tokens_out": 0, "cost": 0, "active_seconds": 0,
                                                    "model_id": model, "dataset_id": dataset_id}))
    write_batch(store, updates)
    with store.engine.begin() as conn:
        conn.execute(annotations.delete().where(annotations.c.dataset_id == dataset_id))
        for (model, seq), note in case["notes"].items():
            if (model == "") != ("note" in note):
                continue  # answer marks go on a model's answer, preference and note on the record
            conn.execute(annotations.insert().values(
                dataset_id=dataset_id, seq=seq, model_id=model, record_id=f"cand-{seq:06d}",
                run_id=run_ids.get(model, 0), golden=int(note.get("golden", False)), judgement=note.get("judgement"),
                correction=note.get("correction"), preference=note.get("preference"), note=note.get("note"),
                updated_by="tester", updated_at="2026-01-01T00:00:00Z"))
    return run_ids


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=example)
def test_the_row_flag_the_filter_and_the_count_of_needs_review_agree(grid_store, case):
    """One rule (domain/review.py), three forms: on random results and annotations (any state,
    also on a selected model with no answer in its run, or on one not selected) they agree."""
    store, dataset_id, runs, fields = grid_store
    run_ids = write_example(store, dataset_id, runs, fields, case)
    query = GridQuery(dataset_id, {m: run_ids[m] for m in case["selected"]}, fields, q=case["q"])
    flagged = {r["seq"] for r in every_row(store, query) if r["needs_review"]}
    filtered = [r["seq"] for r in every_row(store, dataclasses.replace(query, filter="needs_review"))]
    contested = {r["seq"] for r in every_row(store, dataclasses.replace(query, filter="needs_review",
                                                                     sort="disagreement"))}
    assert sorted(flagged) == filtered
    assert contested == flagged
    assert grid_counts(store, query)["needs_review"] == len(flagged)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=example, diff_field=st.sampled_from([None, "trajectory"]), text_verdicts=st.booleans())
def test_differences_follow_the_answers_as_corrected(grid_store, case, diff_field, text_verdicts):
    """Row flags (disagree_fields), the differences filter, its count and the contested order all
    compare the answers as corrected (a fix replaces the model's answer; a fixed error counts as
    answered), whatever the mix of corrected and uncorrected records."""
    store, dataset_id, runs, fields = grid_store
    run_ids = write_example(store, dataset_id, runs, fields, case)
    query = GridQuery(dataset_id, {m: run_ids[m] for m in case["selected"]}, fields, q=case["q"],
                      diff_field=diff_field, text_verdicts=text_verdicts)
    rows = every_row(store, query)
    for row in rows:  # the row's own flags say the same as its cells as shown
        shown_answers = [c for c in row["models"].values() if c is not None and (c["status"] == "ok" or c["is_fixed"])]
        expected = [f for f in fields if len({c.get(f) for c in shown_answers}) > 1]
        assert row["disagree_fields"] == expected, row
    flagged = [r["seq"] for r in rows if (diff_field in r["disagree_fields"] if diff_field else r["disagree_fields"])]
    filtered = [r["seq"] for r in every_row(store, dataclasses.replace(query, filter="differences"))]
    assert filtered == flagged
    assert grid_counts(store, query)["differences"] == len(flagged)
    check_contested_order(store, query)


def test_a_fix_that_makes_the_answers_agree_ends_the_difference(grid_store, monkeypatch):
    """Item 5 of #15: both columns say "Maybe" once one is fixed, so the record is no difference,
    and needs no review for it; undoing the fix brings it back, each time without a rescan."""
    from workbench.grid import marks

    store, dataset_id, runs, fields = grid_store
    two = {m: runs[m] for m in MODELS[:2]}
    for model in two:
        write_results(store, dataset_id, runs[model], model, range(1, 101), fields)
    query = GridQuery(dataset_id, two, fields)
    rows = {r["seq"]: r for r in every_row(store, query)}
    seq = next(s for s, r in rows.items() if "recommendation" in r["disagree_fields"])
    before = grid_counts(store, query)
    every_row(store, dataclasses.replace(query, sort="disagreement"))  # the contested order's marks, built
    olmo = rows[seq]["models"]["olmo"]
    fixed = {k: olmo[k] for k in ("trajectory", "pedigree", "reasoning")}
    record_id = f"cand-{seq:06d}"
    for model in two:  # both fixed to the same answer
        annotate(store, dataset_id=dataset_id, record_id=record_id, field="correction", model_id=model,
                 value={**fixed, "recommendation": "Maybe"}, author="tester")

    def no_scan(*args, **kwargs):
        raise AssertionError("a correction must not rescan the dataset")

    with monkeypatch.context() as patched:
        patched.setattr(marks, "_all_marks", no_scan)
        row = every_row(store, dataclasses.replace(query, seqs=[seq]))[0]
        assert row["disagree_fields"] == [] and row["agreement"] is True and not row["needs_review"]
        assert seq not in {r["seq"] for r in every_row(store, dataclasses.replace(query, filter="differences"))}
        after = grid_counts(store, query)
        assert after["differences"] == before["differences"] - 1
        contested = every_row(store, dataclasses.replace(query, sort="disagreement"))
        assert [r["seq"] for r in contested][-1] == max(r["seq"] for r in contested if not r["disagree_fields"])
        for model in two:
            annotate(store, dataset_id=dataset_id, record_id=record_id, field="correction", model_id=model,
                     value=None, author="tester")
        assert grid_counts(store, query)["differences"] == before["differences"]
    check_contested_order(store, query)


# Verdict values as a key holds them: a separator inside a value, or a field missing, takes the JSON.
odd_value = st.sampled_from(["Yes", "No", "Y\x1fes", "\x1f", None])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=st.dictionaries(st.tuples(st.sampled_from(MODELS), st.sampled_from(SEQS)),
                               st.tuples(odd_value, odd_value, odd_value), max_size=20))
def test_verdicts_read_from_the_keys_are_those_of_the_json(grid_store, answers):
    """With text verdicts, a field's verdict is read from the verdict key; values holding the key's
    separator, or a field missing from an answer, give the same marks as reading the JSON."""
    from workbench.grid import marks

    store, dataset_id, runs, fields = grid_store
    run_ids = write_example(store, dataset_id, runs, fields, {"results": {}, "notes": {}})
    rows = {m: [] for m in MODELS}
    for (model, seq), values in sorted(answers.items()):
        out = {f: v for f, v in zip(fields, values, strict=True) if v is not None}
        rows[model].append(ResultRow(seq, f"cand-{seq:06d}", "ok", out, None, None, None, 5.0, 1, 1, 1, False,
                                     verdict_key(out, fields), out.get("recommendation")))
    write_batch(store, [RunUpdate(run_ids[m], rows[m], [], {"run_id": run_ids[m], "done": 0, "errors": 0,
                                                             "tokens_in": 0, "tokens_out": 0, "cost": 0,
                                                             "active_seconds": 0, "model_id": m,
                                                             "dataset_id": dataset_id}) for m in MODELS])
    for diff_field in (None, "trajectory", "pedigree"):
        seen = []
        for text_verdicts in (False, True):
            marks.forget(store)
            query = GridQuery(dataset_id, run_ids, fields, diff_field=diff_field, text_verdicts=text_verdicts)
            contested = every_row(store, dataclasses.replace(query, sort="disagreement"), limit=7)
            seen.append((grid_counts(store, query), [r["seq"] for r in contested]))
        assert seen[0] == seen[1], diff_field


def test_a_search_reads_the_records_alone_once_the_selection_is_counted(grid_store, monkeypatch):
    """A search's marks are the unsearched selection's with bit 0 cleared for the records that don't
    match: no scan of the results' joins, and the same counts and order as the rows shown."""
    from workbench.grid import marks

    store, dataset_id, runs, fields = grid_store
    for model in MODELS:
        write_results(store, dataset_id, runs[model], model, range(1, 101), fields, errors={4})
    query = GridQuery(dataset_id, dict(runs), fields)
    grid_counts(store, query)
    every_row(store, dataclasses.replace(query, sort="disagreement"))

    def no_scan(*args, **kwargs):
        raise AssertionError("a search scanned the joins")

    monkeypatch.setattr(marks, "_all_marks", no_scan)
    for q in ("a", "ZZZ-none", "%", "_"):
        searched = dataclasses.replace(query, q=q)
        assert grid_counts(store, searched) == shown(store, searched), q
        check_contested_order(store, searched)


# Saved marks (store/mark_snapshots.py): a process that starts catches up from another's snapshot.

def a_new_process(store) -> None:
    """What a server that starts on the same database has: no marks in memory."""
    store.caches.pop("grid.marks", None)


def saved_marks(store):
    from workbench.store.schema import mark_snapshots

    with store.engine.connect() as conn:
        return conn.execute(mark_snapshots.select().order_by(mark_snapshots.c.key)).all()


@pytest.fixture
def snapshots_on(monkeypatch):
    from workbench.grid import marks

    monkeypatch.setattr(marks.MarkCache, "SNAPSHOT_MIN_RECORDS", 1)  # the sample has 100 records
    return marks


def counted_and_saved(store, query):
    from workbench.grid.marks import mark_cache

    counts = grid_counts(store, query)
    mark_cache(store).wait_for_saves()
    return counts


def test_a_new_process_takes_the_saved_marks_and_catches_up(grid_store, snapshots_on, monkeypatch):
    store, dataset_id, runs, fields = grid_store
    write_results(store, dataset_id, runs["gemma"], "gemma", range(1, 101), fields, errors={3, 40})
    write_results(store, dataset_id, runs["olmo"], "olmo", range(1, 61), fields, errors={40, 41})
    every = [q for q in queries(dataset_id, runs, fields) if q.run_ids]
    for query in every:
        counted_and_saved(store, query)
        check_contested_order(store, query)
    assert len(saved_marks(store)) >= 2 * len({(tuple(q.run_ids.values()), q.diff_field) for q in every}) - 2
    a_new_process(store)

    def no_scan(*args, **kwargs):
        raise AssertionError("scanned although the marks were saved")

    monkeypatch.setattr(snapshots_on, "_all_marks", no_scan)
    for query in every:  # as saved
        assert grid_counts(store, query) == shown(store, query), query
        check_contested_order(store, query)
    a_new_process(store)  # results since the snapshots: caught up from the events, not scanned
    write_results(store, dataset_id, runs["olmo"], "olmo", range(61, 101), fields)
    write_results(store, dataset_id, runs["phi"], "phi", range(1, 51), fields, errors={7})
    for query in every:
        assert grid_counts(store, query) == shown(store, query), query
        check_contested_order(store, query)
    a_new_process(store)
    clear_errors(store, runs["olmo"])  # results removed: still events
    for query in every:
        assert grid_counts(store, query) == shown(store, query), query


def test_saved_marks_that_cannot_be_trusted_are_scanned_again(grid_store, snapshots_on, monkeypatch):
    """A snapshot whose version is unreadable, or of another mark's SQL (another version of this
    code), is not taken; a failed save costs only the next start a scan."""
    from workbench.store.schema import mark_snapshots

    store, dataset_id, runs, fields = grid_store
    for model in MODELS:
        write_results(store, dataset_id, runs[model], model, range(1, 101), fields, errors={9})
    query = GridQuery(dataset_id, dict(runs), fields)
    expected = counted_and_saved(store, query)
    assert expected == shown(store, query)
    scans = []
    real_scan = snapshots_on._all_marks
    monkeypatch.setattr(snapshots_on, "_all_marks", lambda *a, **k: scans.append(1) or real_scan(*a, **k))
    with store.engine.begin() as conn:
        conn.execute(mark_snapshots.update().values(version="not json"))
    a_new_process(store)
    assert counted_and_saved(store, query) == expected and scans == [1]
    a_new_process(store)  # the scan's own snapshot replaced it
    assert counted_and_saved(store, query) == expected and scans == [1]
    real_statement = snapshots_on._statement  # as another version of this code might write it:
    monkeypatch.setattr(snapshots_on, "_statement", lambda joins, mark, seqs=None: (
        real_statement(joins, mark, seqs).where(joins.seq >= 0)))
    a_new_process(store)  # the mark's SQL differs: another key, so a scan
    assert counted_and_saved(store, query) == expected and len(scans) == 2

    def failing_save(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(snapshots_on.snapshots, "save", failing_save)
    a_new_process(store)
    with store.engine.begin() as conn:
        conn.execute(mark_snapshots.delete())
    assert counted_and_saved(store, query) == expected and len(scans) == 3 and saved_marks(store) == []


def test_a_dataset_keeps_its_newest_snapshots_and_loses_them_when_deleted(grid_store, snapshots_on, monkeypatch):
    from workbench.store import mark_snapshots as snapshots
    from workbench.store.datasets import delete_dataset

    store, dataset_id, runs, fields = grid_store
    for i in range(snapshots.KEEP + 4):
        snapshots.save(store, f"key-{i:02d}", dataset_id, ("created", i), bytes([i]) * 10)
        time.sleep(0.002)  # "newest" is by the time saved, to the millisecond
    kept = saved_marks(store)
    assert len(kept) == snapshots.KEEP and {r.key for r in kept} == {f"key-{i:02d}" for i in range(4, snapshots.KEEP + 4)}
    with store.engine.connect() as conn:
        assert snapshots.load(conn, "key-19") == (("created", 19), bytes([19]) * 10)
        assert snapshots.load(conn, "key-00") is None
    delete_dataset(store, dataset_id)
    assert saved_marks(store) == []
    snapshots.save(store, "late", dataset_id, ("created", 1), b"\x01")  # its dataset is gone: not kept
    assert saved_marks(store) == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=example, after=st.dictionaries(st.tuples(st.sampled_from(MODELS), st.sampled_from(SEQS)), outcome,
                                             max_size=12))
def test_counts_caught_up_from_a_snapshot_are_those_of_a_scan(grid_store, snapshots_on, before, after):
    """Whatever results land between a snapshot and the next process's first look, its counts and
    contested order are those the rows show."""
    store, dataset_id, runs, fields = grid_store
    run_ids = write_example(store, dataset_id, runs, fields, before)
    query = GridQuery(dataset_id, {m: run_ids[m] for m in before["selected"]}, fields, q=before["q"])
    counted_and_saved(store, query)
    a_new_process(store)
    for (model, seq), result in sorted(after.items()):
        if result is None:
            continue
        errors = {seq} if result == "error" else set()
        write_results(store, dataset_id, run_ids[model], model, [seq], fields, errors=errors)
    assert grid_counts(store, query) == shown(store, query)
    check_contested_order(store, query)


def test_long_seq_lists_written_into_the_sql_select_the_same(grid_store, monkeypatch):
    """Past _INLINE_SEQS, a list of seqs (corrected records that differ, rows on screen) is written
    into the SQL as numbers: the counts, filters and contested order are the same."""
    from workbench.grid import selection

    monkeypatch.setattr(selection, "_INLINE_SEQS", 1)
    test_counts_match_the_filters_through_results_and_annotations(grid_store)


def test_a_snapshot_is_named_by_the_marks_constants_too(grid_store, snapshots_on, monkeypatch):
    """The marks' bits and weights are bound parameters, not in the SQL's text: code that changes
    one names its snapshots apart, and a snapshot whose version doesn't fit the runs isn't taken."""
    from workbench.grid import counts
    from workbench.grid.selection import Joins
    from workbench.store.schema import mark_snapshots

    store, dataset_id, runs, fields = grid_store
    query = GridQuery(dataset_id, dict(runs), fields)
    joins = Joins(query, store.dialect)
    key = ("counts", dataset_id)
    named = snapshots_on._snapshot_key(store, joins, counts._count_marks, key)
    monkeypatch.setattr(counts, "ERRORED", 64)
    assert snapshots_on._snapshot_key(store, joins, counts._count_marks, key) != named
    monkeypatch.undo()
    monkeypatch.setattr(snapshots_on.MarkCache, "SNAPSHOT_MIN_RECORDS", 1)
    for model in MODELS:
        write_results(store, dataset_id, runs[model], model, range(1, 101), fields, errors={9})
    expected = counted_and_saved(store, query)
    with store.engine.begin() as conn:  # the dataset's own creation, but no run's event id
        created = json.loads(conn.execute(sa.select(mark_snapshots.c.version)).scalars().first())[0]
        conn.execute(mark_snapshots.update().values(version=json.dumps([created]), marks=b"\xff" * 101))
    a_new_process(store)
    assert grid_counts(store, query) == expected
    with store.engine.begin() as conn:
        conn.execute(mark_snapshots.update().values(version="5"))
    a_new_process(store)
    assert grid_counts(store, query) == expected

"""Annotations: the log and derived state, undo, concurrent edits, labels."""

from __future__ import annotations

import asyncio
import threading

import pytest

from testkit.fake_openai import FakeOpenAIServer
from workbench.domain.annotations import AnnotationError, AnswerState, golden_answer, reference_label, validate
from workbench.domain.models import build_model
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.runner.manager import RunManager
from workbench.service.runs import start_runs
from workbench.store.annotations import AnnotationConflict, annotate, answer_states, history, undo
from workbench.grid.curation import golden_examples
from workbench.store.datasets import import_dataset
from workbench.store.models import save_model
from workbench.service.workspace import sample_path

FIX = {"recommendation": "Strong Yes", "trajectory": "Strong", "pedigree": "Good", "reasoning": "fixed by hand"}


@pytest.fixture
def ran(store):
    """The sample dataset with two models' answers."""
    import_dataset(store, sample_path(), name="cands")
    with FakeOpenAIServer() as server:
        for model in ("gemma", "olmo"):
            save_model(store, build_model({"id": model, "provider": "openai", "base_url": server.base_url,
                                           "model": model}))
        runs = start_runs(store, "cands", ["gemma", "olmo"])
        asyncio.run(RunManager(store).execute([r.id for r in runs]))
    return store


def note(store, field, value, *, model="gemma", record="cand-000001", author="ann"):
    return annotate(store, dataset_id="cands", record_id=record, model_id=model, field=field, value=value,
                    author=author, models=["gemma", "olmo"])


def test_validation():
    assert validate("golden", True) is True
    with pytest.raises(AnnotationError, match="true or false"):
        validate("golden", "yes")
    with pytest.raises(AnnotationError, match="fix it first"):
        validate("golden", True, has_answer=False)
    with pytest.raises(AnnotationError, match="schema"):
        validate("correction", {"recommendation": "Great"}, task=TASK)
    assert validate("correction", FIX, task=TASK) == FIX
    with pytest.raises(AnnotationError, match="preference must be"):
        validate("preference", "gpt-9", models=["gemma"])
    assert validate("note", "  ") == "  " and validate("note", "") is None
    with pytest.raises(AnnotationError, match="unknown annotation"):
        validate("stars", 5)


def test_labels_prefer_golden_then_latest_correction():
    out = {"recommendation": "No"}
    states = [
        AnswerState("a", 1, out, correction={"recommendation": "Yes"}, updated_at="2026-01-02"),
        AnswerState("b", 2, {"recommendation": "Maybe"}, golden=True, updated_at="2026-01-01"),
    ]
    assert golden_answer(states)[0] == {"recommendation": "Maybe"}
    assert reference_label(states)[1]["source"] == "golden"
    assert reference_label(states[:1]) == ({"recommendation": "Yes"}, {
        "source": "correction", "model_id": "a", "run_id": 1, "corrected": True, "annotator": None, "annotated_at": "2026-01-02"})
    fixed_golden = AnswerState("a", 1, out, golden=True, correction={"recommendation": "Yes"}, updated_at="x")
    assert golden_answer([fixed_golden])[0] == {"recommendation": "Yes"}  # corrections applied
    assert golden_answer([AnswerState("a", 1, None, golden=True)]) is None


def test_log_state_and_undo(ran):
    first = note(ran, "golden", True)
    assert first["state"]["golden"] is True and first["previous"] is False
    note(ran, "correction", FIX)
    judged = note(ran, "judgement", "wrong", author="bob")
    assert judged["state"] == {**judged["state"], "golden": True, "judgement": "wrong", "correction": FIX}
    log = history(ran, "cands", "cand-000001")
    assert [(e["field"], e["author"]) for e in log] == [("judgement", "bob"), ("correction", "ann"), ("golden", "ann")]
    undone = undo(ran, dataset_id="cands", author="ann")  # ann's latest: the correction
    assert undone["field"] == "correction" and undone["state"]["correction"] is None and undone["undoes"] == log[1]["id"]
    assert undo(ran, dataset_id="cands", author="ann")["state"]["golden"] is False
    with pytest.raises(AnnotationConflict, match="nothing to undo"):
        undo(ran, dataset_id="cands", author="ann")
    assert len(history(ran, "cands")) == 5  # append-only: undos are events too


def test_undo_refuses_when_someone_changed_the_field_since(ran):
    mine = note(ran, "judgement", "good", author="ann")
    note(ran, "judgement", "wrong", author="bob")
    with pytest.raises(AnnotationConflict, match="changed since"):
        undo(ran, dataset_id="cands", author="ann", event_id=mine["event_id"])


def test_concurrent_annotators_lose_nothing(ran):
    """Two people on the same records at once: different fields both stick; the same field is
    last-write-wins with both writes in the log."""
    errors = []

    def work(author, field, value, model):
        try:
            for i in range(1, 21):
                note(ran, field, value, model=model, record=f"cand-{i:06d}", author=author)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=("ann", "golden", True, "gemma")),
               threading.Thread(target=work, args=("bob", "judgement", "good", "gemma")),
               threading.Thread(target=work, args=("cy", "judgement", "wrong", "olmo")),
               threading.Thread(target=work, args=("dee", "judgement", "good", "olmo"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(1, 21):
        log = history(ran, "cands", f"cand-{i:06d}")
        assert len(log) == 4
        latest_olmo = [e for e in log if e["model_id"] == "olmo"][0]  # the log is newest first
        states = {s.model_id: s for s in answer_states(ran, "cands", [i])[i]}
        assert states["gemma"].golden and states["gemma"].judgement == "good"
        assert states["olmo"].judgement == latest_olmo["value"]
        # cy and dee wrote the same field at once: each event's previous is what the one before it set
        olmo = sorted((e for e in log if e["model_id"] == "olmo"), key=lambda e: e["id"])
        assert [e["previous"] for e in olmo] == [None, olmo[0]["value"]]


def test_golden_needs_an_answer_and_fixes_are_validated(ran):
    with pytest.raises(AnnotationError, match="schema"):
        note(ran, "correction", {"recommendation": "Great"})
    with pytest.raises(AnnotationError, match="say which model"):
        note(ran, "golden", True, model="")
    with pytest.raises(AnnotationError, match="no run"):
        note(ran, "golden", True, model="phi")
    with pytest.raises(AnnotationError, match="no record"):
        note(ran, "golden", True, record="nope")
    record_level = annotate(ran, dataset_id="cands", record_id="cand-000002", field="preference", value="olmo",
                            author="ann", models=["gemma", "olmo"])
    assert record_level["model_id"] == "" and record_level["state"]["preference"].startswith("run:")  # kept as its run


def test_golden_examples_apply_corrections(ran):
    note(ran, "golden", True, record="cand-000003")
    note(ran, "golden", True, record="cand-000001")
    note(ran, "correction", FIX, record="cand-000001")
    examples = golden_examples(ran, "cands")
    assert [e[0] for e in examples] == ["cand-000001", "cand-000003"]
    assert examples[0][2] == FIX and examples[0][1]["name"]
    assert len(golden_examples(ran, "cands", limit=1)) == 1

"""The runs use cases (service.runs) against the store: what the CLI and the routers call."""

from __future__ import annotations

import asyncio

import pytest

from testkit.synthetic import write_jsonl
from workbench.domain.errors import NotFound
from workbench.domain.models import ModelConfig
from workbench.domain.tasks import DEFAULT_TASK
from workbench.service import runs as service
from workbench.service.runs import FewShotError, InProcessRuns, RunOptions
from workbench.store.datasets import delete_dataset, import_dataset
from workbench.store.models import save_model
from workbench.store.runs import RunNotFound, RunStateError


@pytest.fixture
def cands(store, tmp_path):
    write_jsonl(tmp_path / "cands.jsonl", 12)
    import_dataset(store, tmp_path / "cands.jsonl", name="cands")
    save_model(store, ModelConfig(id="rules", provider="baseline"))
    return store


def test_a_start_continues_the_unfinished_run_with_the_same_plan(cands):
    [first] = service.start_runs(cands, "cands", ["rules", "rules"])  # a model named twice: one run
    assert (first.task_name, first.status, first.total) == (DEFAULT_TASK, "queued", 12)
    service.control_run(cands, first.id, "pause")
    [again] = service.start_runs(cands, "cands", ["rules"])
    assert again.id == first.id and again.status == "queued"  # the paused run is queued again
    [other] = service.start_runs(cands, "cands", ["rules"], options=RunOptions(limit=5))
    assert other.id != first.id and other.total == 5  # another plan: another run
    assert [r.id for r in service.unfinished_runs(cands)] == [first.id, other.id]


def test_few_shot_needs_golden_examples(cands):
    with pytest.raises(FewShotError, match="no golden examples in dataset 'cands'"):
        service.start_runs(cands, "cands", ["rules"], options=RunOptions(few_shot=2))


def test_listing_a_datasets_runs_needs_the_dataset(cands):
    [run] = service.start_runs(cands, "cands", ["rules"])
    assert [r.id for r in service.list_runs(cands, "cands")] == [run.id]
    assert [r.id for r in service.list_runs(cands)] == [run.id]
    with pytest.raises(NotFound):
        service.list_runs(cands, "nope")


def test_control_and_retry_errors(cands):
    [run] = service.start_runs(cands, "cands", ["rules"])
    assert service.control_run(cands, run.id, "cancel").status == "cancelled"
    with pytest.raises(RunStateError, match="can't pause"):
        service.control_run(cands, run.id, "pause")
    with pytest.raises(RunStateError, match="unknown action"):
        service.control_run(cands, run.id, "explode")
    assert service.control_run(cands, run.id, "retry-errors").status == "queued"
    with pytest.raises(RunNotFound):
        service.get_run(cands, 999)


def test_runs_executed_here_end_with_their_outcome(cands):
    runs = service.start_runs(cands, "cands", ["rules"])
    here = InProcessRuns(cands, [r.id for r in runs])
    seen: list[dict] = []
    [outcome] = asyncio.run(here.execute(on_progress=seen.append))
    assert outcome.status == "completed" and outcome.run is not None and outcome.run.done == 12
    assert seen and seen[-1][outcome.run_id]["done"] == 12
    with pytest.raises(RunNotFound):
        InProcessRuns(cands, [999])


def test_a_run_deleted_while_it_ran_has_no_run_in_its_outcome(cands):
    [run] = service.start_runs(cands, "cands", ["rules"])
    here = InProcessRuns(cands, [run.id])
    delete_dataset(cands, "cands")
    [outcome] = asyncio.run(here.execute())
    assert (outcome.status, outcome.run, outcome.model_id) == ("cancelled", None, "rules")

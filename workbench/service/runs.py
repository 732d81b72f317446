"""Runs: start, list, look at, pause/resume/cancel, retry errors, and execute them in this process.

The CLI and the routers call one function here per command or route; the runner executes runs,
the store keeps them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace

from workbench.domain.errors import InvalidInput
from workbench.domain.model_ids import positive_id
from workbench.domain.models import ModelConfig
from workbench.domain.tasks import DEFAULT_TASK
from workbench.domain.template_fields import MissingFields
from workbench.runner.manager import ProgressCallback, RunManager
from workbench.runner.options import RunOptions
from workbench.store import Store
from workbench.store import runs as stored
from workbench.store.datasets import get_dataset
from workbench.store.db import write_transaction
from workbench.store.models import get_model
from workbench.store.runs import RunInfo, RunNotFound
from workbench.store.tasks import get_task
from workbench.service.tasks import fields_missing

ACTIONS = ("pause", "resume", "cancel", "retry-errors")
UNFINISHED = ("queued", "running", "paused")
# The options that make an unfinished run the one a start continues (the rest may change on resume).
SAME_PLAN = ("limit", "few_shot", "examples_from")

__all__ = ["ACTIONS", "FewShotError", "MissingFields", "task_reference",
           "InProcessRuns", "RunInfo", "RunOptions", "RunOutcome", "control_run", "get_run",
           "list_runs", "retry_errors", "start_runs", "unfinished_runs"]


class FewShotError(InvalidInput):
    pass


def start_runs(store: Store, dataset_id: str, model_ids: Iterable[str], task_name: str = DEFAULT_TASK,
               options: RunOptions | None = None, *, task_version: int | None = None,
               allow_missing_fields: bool = False) -> list[RunInfo]:
    """One run per model, queued: an unfinished run of the same model, dataset, task and plan
    continues (a paused one is queued again); else a new one. The task (its latest version unless
    one is named) is refused, naming the fields, when its templates use fields the dataset lacks,
    unless ``allow_missing_fields``."""
    options = options or RunOptions()
    dataset = get_dataset(store, dataset_id)
    task = get_task(store, task_name, task_version)
    if not allow_missing_fields:
        missing = fields_missing(store, task, dataset_id)
        if missing:
            raise MissingFields(task.name, dataset_id, missing)
    if options.few_shot and not options.example_ids:
        options = replace(options, example_ids=_chosen_examples(store, options.examples_from or dataset_id,
                                                                options.few_shot))
    total = min(dataset.record_count, options.limit) if options.limit else dataset.record_count
    started = []
    for model_id in dict.fromkeys(model_ids):
        model = get_model(store, model_id)
        run_id, paused = _continue_or_create(store, dataset_id, model, task.name, task.version, total, options)
        if paused:
            stored.set_status(store, run_id, "queued", None, only_from=("paused",))
        started.append(stored.get_run(store, run_id))
    return started


def task_reference(text: str) -> tuple[str, int | None]:
    """``NAME`` or ``NAME:VERSION`` (as the CLI's --task takes it) → (name, version or None: latest)."""
    name, _, version = text.partition(":")
    if not version:
        return name, None
    number = positive_id(version)
    if number is None:
        raise InvalidInput(f"task {text!r}: the version after ':' must be a positive number")
    return name, number


def _chosen_examples(store: Store, dataset_id: str, count: int) -> list[str]:
    """The golden examples a few-shot run shows, fixed now so a resume shows the same ones."""
    from workbench.grid.curation import golden_examples  # the grid's modules only for a few-shot run

    chosen = golden_examples(store, dataset_id, limit=count)
    if not chosen:
        raise FewShotError(f"no golden examples in dataset {dataset_id!r}: mark some answers golden first")
    return [record_id for record_id, _, _ in chosen]


def _continue_or_create(store: Store, dataset_id: str, model: ModelConfig, task_name: str, task_version: int,
                        total: int, options: RunOptions) -> tuple[int, bool]:
    """The unfinished run with this plan, else a new one: (run id, whether it is paused). One write
    transaction keyed by what makes a run the same, so simultaneous starts find one run."""
    key = f"run-start:{dataset_id}:{model.id}:{task_name}:{task_version}"
    with write_transaction(store, key) as conn:
        existing = stored.find_unfinished(conn, dataset_id, model.id, task_name, task_version)
        if existing is not None and all(existing.options.get(k) == getattr(options, k) for k in SAME_PLAN):
            return existing.id, existing.status == "paused"
        return stored.insert_run(conn, dataset_id=dataset_id, model=model, task_name=task_name,
                                 task_version=task_version, total=total, options=options.to_dict()), False


def list_runs(store: Store, dataset_id: str | None = None) -> list[RunInfo]:
    """Every run, oldest first; only a dataset's when one is given (an unknown dataset is an error)."""
    if dataset_id is not None:
        get_dataset(store, dataset_id)
    return stored.list_runs(store, dataset_id=dataset_id)


def get_run(store: Store, run_id: int) -> RunInfo:
    return stored.get_run(store, run_id)


def unfinished_runs(store: Store) -> list[RunInfo]:
    return stored.list_runs(store, statuses=UNFINISHED, kinds=None)  # judge runs resume like any run


def control_run(store: Store, run_id: int, action: str) -> RunInfo:
    """One of ``ACTIONS``, from any process (the process running it obeys within a second)."""
    if action == "retry-errors":
        retry_errors(store, run_id)
        return stored.get_run(store, run_id)
    return stored.request_state(store, run_id, action)


def retry_errors(store: Store, run_id: int) -> int:
    """Queue the run again with its error results dropped, so only those records are asked again;
    returns how many."""
    return stored.clear_errors(store, run_id)


@dataclass(frozen=True)
class RunOutcome:
    """How a run executed here ended."""

    run_id: int
    model_id: str
    status: str  # the executor's final status
    run: RunInfo | None  # as stored now; None: deleted (with its dataset) while it ran


class InProcessRuns:
    """Runs executed in this process (the CLI's run, resume, retry-errors): live figures for a
    progress display, and a pause of them all (Ctrl-C)."""

    def __init__(self, store: Store, run_ids: Iterable[int]):
        self.store = store
        self.runs = [stored.get_run(store, run_id) for run_id in run_ids]  # an unknown id: nothing starts
        self._manager = RunManager(store)

    def pause_all(self, reason: str = "paused by user") -> None:
        self._manager.pause_all(reason)

    async def execute(self, on_progress: ProgressCallback | None = None) -> list[RunOutcome]:
        """Run them to their end (or until paused); one outcome per run, in the order given."""
        final = await self._manager.execute([run.id for run in self.runs], on_progress=on_progress)
        return [RunOutcome(run.id, run.model_id, final[run.id], await asyncio.to_thread(self._as_stored, run.id))
                for run in self.runs]

    def _as_stored(self, run_id: int) -> RunInfo | None:
        try:
            return stored.get_run(self.store, run_id)
        except RunNotFound:
            return None

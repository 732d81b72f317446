"""Judges: a configured model asked which of two columns' answers is better, in both orders.

``start_judge`` queues a judge's two runs (the runner executes them like any run); ``suggestions``
is what the grid, review mode and exports read; ``judge_agreement`` says how far to trust it."""

from __future__ import annotations

from typing import Any

from workbench.domain.errors import InvalidInput, NotFound
from workbench.domain.judging import (Suggestion, agreement_with_people, check_rubric, combine, judge_task,
                                      people_label)
from workbench.domain.model_ids import run_column
from workbench.domain.progress import TERMINAL_STATES
from workbench.runner.options import RunOptions
from workbench.store import judges as stored
from workbench.store.datasets import get_dataset
from workbench.store.metric_counts import stated_preferences
from workbench.store.db import Store
from workbench.store.models import get_model
from workbench.store.runs import RunInfo, RunNotFound, column_runs, get_run, set_status
from workbench.store.tasks import save_task


class JudgeNotFound(NotFound):
    def __init__(self, judge_id: int):
        super().__init__(f"no judge {judge_id} (see GET /api/judges?dataset_id=…)")


def start_judge(store: Store, dataset_id: str, columns: list[str], judge_model_id: str,
                rubric: str | None = None) -> stored.JudgePair:
    """A new judge of two columns by ``judge_model_id``: both runs queued (orders ab and ba)."""
    get_dataset(store, dataset_id)
    if not isinstance(columns, list) or len(columns) != 2 or not all(isinstance(c, str) for c in columns):
        raise InvalidInput("a judge compares exactly two columns: models [column a, column b]")
    if columns[0] == columns[1]:
        raise InvalidInput("a judge compares two different columns")
    text = check_rubric(rubric)
    chosen = column_runs(store, dataset_id, columns)
    for column in columns:
        if column not in chosen:
            raise InvalidInput(f"column {column!r} has not run on dataset {dataset_id!r}: run it first")
    run_a, run_b = chosen[columns[0]], chosen[columns[1]]
    if run_a.id == run_b.id:
        raise InvalidInput(f"{columns[0]!r} and {columns[1]!r} are the same run: judge two different runs")
    try:
        model = get_model(store, judge_model_id)
    except NotFound as exc:
        raise InvalidInput(f"judge: {exc}") from None
    task = save_task(store, judge_task(run_a.task_name, text))
    ab, _ = stored.create_judge(store, dataset_id=dataset_id, model=model, task_name=task.name,
                                task_version=task.version, columns=(run_a.id, run_b.id), rubric=text,
                                options=RunOptions().to_dict())
    pair = get_judge(store, ab)
    for run in judge_runs(pair):  # a paused judge, started again, goes on
        if run.status == "paused":
            set_status(store, run.id, "queued", None, only_from=("paused",))
    return get_judge(store, ab)


def get_judge(store: Store, judge_id: int) -> stored.JudgePair:
    try:
        run = get_run(store, judge_id)
    except RunNotFound:
        raise JudgeNotFound(judge_id) from None
    if run.kind != stored.JUDGE or stored.judge_options(run).get("order") != "ab":
        raise JudgeNotFound(judge_id)
    for pair in stored.list_judges(store, run.dataset_id):
        if pair.id == judge_id:
            return pair
    raise JudgeNotFound(judge_id)


def list_judges(store: Store, dataset_id: str) -> list[stored.JudgePair]:
    get_dataset(store, dataset_id)
    return stored.list_judges(store, dataset_id)


def judge_runs(pair: stored.JudgePair) -> list[RunInfo]:
    return [run for run in (pair.ab, pair.ba) if run is not None]


def judge_status(pair: stored.JudgePair) -> str:
    """One state for both runs: the first of failed, running, paused, queued, cancelled that either is."""
    states = {run.status for run in judge_runs(pair)}
    if pair.ba is None:
        return "failed"
    for status in ("failed", "running", "paused", "queued", "cancelled"):
        if status in states:
            return status
    return "completed"


def judge_view(pair: stored.JudgePair) -> dict[str, Any]:
    """A judge as the API and the CLI show it: both runs' progress summed."""
    a, b = pair.columns
    runs = judge_runs(pair)
    return {"id": pair.id, "dataset_id": pair.ab.dataset_id, "judge_model": pair.ab.model_id,
            "judge_name": pair.ab.model.name or pair.ab.model_id, "columns": [run_column(a), run_column(b)],
            "runs": [run.id for run in runs], "rubric": pair.rubric,
            "task": {"name": pair.ab.task_name, "version": pair.ab.task_version},
            "status": judge_status(pair), "finished": all(run.status in TERMINAL_STATES for run in runs),
            "total": sum(run.total for run in runs), "done": sum(run.done for run in runs),
            "errors": sum(run.errors for run in runs), "cost": sum(run.cost for run in runs),
            "status_reason": next((run.status_reason for run in runs if run.status_reason), None),
            "created_at": pair.ab.created_at}


def suggestions(store: Store, dataset_id: str, run_ids: dict[str, int],
                seqs: list[int] | None = None) -> dict[int, list[Suggestion]]:
    """Record seq -> the latest judge's suggestion for each judged pair among these columns
    (column id -> run), for these records (None: all). Records no judge looked at are left out."""
    column_of: dict[int, str] = {}
    for column, run_id in run_ids.items():
        column_of.setdefault(run_id, column)
    latest: dict[frozenset[int], stored.JudgePair] = {}
    for pair in stored.list_judges(store, dataset_id):  # oldest first: a later judge of a pair wins
        a, b = pair.columns
        if a in column_of and b in column_of and pair.ba is not None:
            latest[frozenset((a, b))] = pair
    if not latest or seqs == []:
        return {}
    out: dict[int, list[Suggestion]] = {}
    for pair in latest.values():
        a, b = pair.columns
        for seq, suggestion in judge_suggestions(store, pair, (column_of[a], column_of[b]), seqs).items():
            out.setdefault(seq, []).append(suggestion)
    return out


def judge_suggestions(store: Store, pair: stored.JudgePair, names: tuple[str, str],
                      seqs: list[int] | None = None) -> dict[int, Suggestion]:
    """One judge's suggestion per record it judged (in either order), its columns named ``names``."""
    if pair.ba is None:
        return {}
    verdicts = {(v.run_id, v.seq): v for v in stored.verdicts(store, [pair.ab.id, pair.ba.id], seqs)}
    out = {}
    for seq in sorted({seq for _, seq in verdicts}):
        ab, ba = verdicts.get((pair.ab.id, seq)), verdicts.get((pair.ba.id, seq))
        winner, consistent = combine(ab.better if ab else None, ba.better if ba else None)
        out[seq] = Suggestion(columns=names, preferred={"a": names[0], "b": names[1]}.get(winner or "", winner),
                              consistent=consistent, judge_model=pair.ab.model_id, judge_run=pair.id,
                              reason=(ab.reason if ab else None) or (ba.reason if ba else None))
    return out


def judge_agreement(store: Store, judge_id: int) -> dict[str, Any]:
    """The judge against people, on the records where people stated a preference between its two
    columns (either of them, or a tie): percent and Cohen's kappa with intervals, n, and the position
    consistency rate (share of records judged in both orders whose verdicts agree)."""
    pair = get_judge(store, judge_id)
    a, b = pair.columns
    mine = judge_suggestions(store, pair, (run_column(a), run_column(b)))
    both_orders = [s for s in mine.values() if s.consistent is not None]
    consistent = sum(1 for s in both_orders if s.consistent)
    label = {run_column(a): "a", run_column(b): "b", "tie": "tie"}
    pairs = []
    for seq, preference in stated_preferences(store, pair.ab.dataset_id).items():
        person = people_label(preference, run_column(a), run_column(b))
        suggestion = mine.get(seq)
        if person is not None and suggestion is not None and suggestion.preferred is not None:
            pairs.append((label[suggestion.preferred], person))
    return {"judge": judge_view(pair)} | agreement_with_people(pairs, consistent, len(both_orders))

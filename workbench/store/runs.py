"""Runs: creation, state changes, leases (one executor per run), listing."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.domain.columns import Variant
from workbench.domain.judging import is_judge_task
from workbench.domain.model_ids import run_id_of
from workbench.domain.models import ModelConfig
from workbench.domain.progress import TERMINAL_STATES, cost
from workbench.store.db import Store, refresh_statistics, utcnow, write_transaction
from workbench.store.event_log import insert_events, result_event
from workbench.store.schema import results, runs
from workbench.domain.errors import Conflict, InvalidInput, NotFound

LEASE_SECONDS = float(os.environ.get("WORKBENCH_LEASE_SECONDS", "30"))  # shorter in some tests
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunNotFound(NotFound):
    def __init__(self, run_id: int):
        super().__init__(f"no run {run_id} (see `workbench runs`)")


class RunStateError(Conflict):
    pass


class JudgeRunNotAColumn(InvalidInput):
    def __init__(self, run_id: int):
        super().__init__(f"run {run_id} is a judge's run (its verdicts are suggestions), not a column")


class JudgeTaskNotAnswerTask(InvalidInput):
    def __init__(self, task_name: str):
        super().__init__(f"task {task_name!r} is a judge's task: start a judge (`workbench judge`) instead")


ANSWER = "answer"  # runs.kind of a column's run; "judge": judges two runs' answers (store/judges.py)


class RunOfAnotherDataset(InvalidInput):
    def __init__(self, run_id: int, dataset_id: str, wanted: str):
        super().__init__(f"run {run_id} is a run on dataset {dataset_id!r}, not on {wanted!r}")


@dataclass(frozen=True)
class RunInfo:
    id: int
    dataset_id: str
    model_id: str
    task_name: str
    task_version: int
    status: str
    status_reason: str | None
    model: ModelConfig
    options: dict[str, Any]
    total: int
    done: int
    errors: int
    tokens_in: int
    tokens_out: int
    cost: float
    active_seconds: float
    lease_owner: str | None
    lease_expires_at: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    kind: str = "answer"  # "answer": a column of the grid; "judge": judges two runs' answers (service/judges)

    @classmethod
    def from_row(cls, row: Any) -> "RunInfo":
        m = dict(row._mapping)
        m["model"] = ModelConfig.from_dict(orjson.loads(m.pop("model_snapshot")))
        m["options"] = orjson.loads(m["options"])
        m.pop("updated_at", None)
        return cls(**m)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATES

    @property
    def few_shot(self) -> int:
        """Golden examples shown before each record (0: zero-shot)."""
        count = self.options.get("few_shot")
        return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 0

    def variant(self, model_name: str | None = None) -> Variant:
        """What sets this run apart as a column (the model's configured name, else its snapshot's)."""
        return Variant(model_name or self.model.name or self.model_id, self.task_name, self.task_version,
                       self.few_shot, self.model.params.to_dict(), self.id)


def create_run(store: Store, *, dataset_id: str, model: ModelConfig, task_name: str, task_version: int,
               total: int, options: dict[str, Any]) -> RunInfo:
    with store.engine.begin() as conn:
        run_id = insert_run(conn, dataset_id=dataset_id, model=model, task_name=task_name,
                            task_version=task_version, total=total, options=options)
    return get_run(store, run_id)


def insert_run(conn: sa.Connection, *, dataset_id: str, model: ModelConfig, task_name: str, task_version: int,
               total: int, options: dict[str, Any], kind: str = ANSWER) -> int:
    """A new queued run in the caller's transaction; returns its id. A judge's task is only a judge run's."""
    if kind == ANSWER and is_judge_task(task_name):
        raise JudgeTaskNotAnswerTask(task_name)
    now = utcnow()
    inserted = conn.execute(runs.insert().values(
        dataset_id=dataset_id, model_id=model.id, task_name=task_name, task_version=task_version,
        status="queued", model_snapshot=orjson.dumps(model.to_dict()).decode(), options=orjson.dumps(options).decode(),
        total=total, done=0, errors=0, tokens_in=0, tokens_out=0, cost=0.0, active_seconds=0.0,
        created_at=now, updated_at=now, kind=kind,
    )).inserted_primary_key
    assert inserted is not None
    return inserted[0]


def get_run(store: Store, run_id: int) -> RunInfo:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    if row is None:
        raise RunNotFound(run_id)
    return RunInfo.from_row(row)


def list_runs(store: Store, *, dataset_id: str | None = None, statuses: tuple[str, ...] | None = None,
              kinds: tuple[str, ...] | None = (ANSWER,)) -> list[RunInfo]:
    """Runs, oldest first: answer runs by default (the runs panel, the columns; judge runs are listed
    as judges, store/judges.py); ``kinds=None`` every kind (the queue the runner executes and resumes)."""
    query = sa.select(runs).order_by(runs.c.id)
    if kinds:
        query = query.where(runs.c.kind.in_(kinds))
    if dataset_id:
        query = query.where(runs.c.dataset_id == dataset_id)
    if statuses:
        query = query.where(runs.c.status.in_(statuses))
    with store.engine.connect() as conn:
        return [RunInfo.from_row(r) for r in conn.execute(query)]


def find_unfinished(conn: sa.Connection, dataset_id: str, model_id: str, task_name: str,
                    task_version: int) -> RunInfo | None:
    """The latest run of this model on this dataset and task that has not ended, if any (in the
    caller's transaction: a ``write_transaction`` when a run is created unless one is found)."""
    row = conn.execute(
        sa.select(runs).where(
            runs.c.dataset_id == dataset_id, runs.c.model_id == model_id, runs.c.task_name == task_name,
            runs.c.task_version == task_version, runs.c.status.not_in(TERMINAL_STATES),
        ).order_by(runs.c.id.desc()).limit(1)
    ).first()
    return RunInfo.from_row(row) if row else None


def set_status(store: Store, run_id: int, status: str, reason: str | None = None, *,
               only_from: tuple[str, ...] | None = None, release_lease: bool = False) -> bool:
    """Change a run's state (optionally only from given states). Returns whether it changed."""
    now = utcnow()
    values: dict[str, Any] = {"status": status, "status_reason": reason, "updated_at": now}
    if status in TERMINAL_STATES:
        values["finished_at"] = now
    if release_lease:
        values.update(lease_owner=None, lease_expires_at=None)
    query = runs.update().where(runs.c.id == run_id)
    if only_from:
        query = query.where(runs.c.status.in_(only_from))
    with store.engine.begin() as conn:
        changed = conn.execute(query.values(**values)).rowcount > 0
        if changed:
            _state_event(conn, run_id, status, reason)
    if changed and status in TERMINAL_STATES:
        refresh_statistics(store, "results", vacuum=True)
    return changed


def _state_event(conn: sa.Connection, run_id: int, status: str, reason: str | None) -> None:
    """Every state change is an event, written in the same transaction as the change."""
    row = conn.execute(sa.select(runs.c.model_id, runs.c.dataset_id).where(runs.c.id == run_id)).first()
    payload = {"run_id": run_id, "status": status, "reason": reason,
               "model_id": row.model_id if row else None, "dataset_id": row.dataset_id if row else None}
    insert_events(conn, [{"run_id": run_id, "type": "run_state", "payload": orjson.dumps(payload).decode(),
                          "created_at": utcnow()}])


def _lease_is_free(owner: str | None, expires_at: str | None) -> bool:
    if owner is None or owner == OWNER or (expires_at or "") < utcnow():
        return True
    host, _, rest = owner.partition(":")
    pid = rest.split(":", 1)[0]
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)  # the owner crashed if its process is gone
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def orphaned(run: RunInfo) -> bool:
    """Running under another process's lease that is free now (that process died, or its lease ran out)."""
    return run.status == "running" and run.lease_owner not in (None, OWNER) \
        and _lease_is_free(run.lease_owner, run.lease_expires_at)


def _locked_run(conn: sa.Connection, run_id: int, *columns: sa.Column) -> sa.Row:
    """The run's row, locked until the transaction ends (a ``write_transaction``): a pause, a
    cancel or another claim made meanwhile waits for us instead of being overwritten. FOR NO KEY UPDATE:
    the run's id stays, so result inserts (their foreign key check takes FOR KEY SHARE) need not wait."""
    row = conn.execute(sa.select(*columns).where(runs.c.id == run_id).with_for_update(key_share=True)).first()
    if row is None:
        raise RunNotFound(run_id)
    return row


def claim(store: Store, run_id: int) -> bool:
    """Take the run for this process (state → running). False if another live process has it."""
    with write_transaction(store) as conn:
        row = _locked_run(conn, run_id, runs.c.status, runs.c.lease_owner, runs.c.lease_expires_at)
        if row.status in TERMINAL_STATES or row.status == "paused":
            return False
        if not _lease_is_free(row.lease_owner, row.lease_expires_at):
            return False
        now = utcnow()
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            status="running", status_reason=None, lease_owner=OWNER, lease_expires_at=_lease_expiry(),
            started_at=sa.func.coalesce(runs.c.started_at, now), updated_at=now,
        ))
        _state_event(conn, run_id, "running", None)
        return True


def _lease_expiry() -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=LEASE_SECONDS)).isoformat(timespec="milliseconds")


def renew_lease_values() -> dict[str, Any]:
    return {"lease_expires_at": _lease_expiry(), "updated_at": utcnow()}


def renew_leases(store: Store) -> None:
    """Extend the leases of the runs this process is running, whether or not results came lately."""
    # Rows locked by id first, the order write_batch locks them in: one UPDATE would lock them in scan
    # order and deadlock with the writer on PostgreSQL.
    mine = sa.select(runs.c.id).where(runs.c.lease_owner == OWNER, runs.c.status == "running").order_by(runs.c.id)
    with write_transaction(store) as conn:
        ids = conn.execute(mine.with_for_update(key_share=True)).scalars().all()
        if ids:
            conn.execute(runs.update().where(runs.c.id.in_(ids), runs.c.lease_owner == OWNER,
                                             runs.c.status == "running").values(lease_expires_at=_lease_expiry()))


def request_state(store: Store, run_id: int, action: str) -> RunInfo:
    """pause / resume / cancel, from any process: the executor that owns the run obeys."""
    get_run(store, run_id)  # RunNotFound first
    if action == "pause":
        ok = set_status(store, run_id, "paused", "paused by user", only_from=("queued", "running"))
    elif action == "resume":
        ok = set_status(store, run_id, "queued", None, only_from=("paused", "running", "queued"))
    elif action == "cancel":
        ok = set_status(store, run_id, "cancelled", "cancelled by user", only_from=("queued", "running", "paused"))
    else:
        raise RunStateError(f"unknown action {action!r}")
    if not ok:  # the state that refused it, not the one seen before (it may have changed since)
        raise RunStateError(f"run {run_id} is {get_run(store, run_id).status}; can't {action} it")
    return get_run(store, run_id)


def recount(store: Store, run_id: int) -> dict[str, Any]:
    """Counters recomputed from the results themselves (authoritative after a crash)."""
    with write_transaction(store) as conn:
        return _recount(conn, run_id)


def _recount(conn: sa.Connection, run_id: int) -> dict[str, Any]:
    """``recount`` in the caller's write transaction (the run's row locked first: lock order)."""
    snapshot = _locked_run(conn, run_id, runs.c.model_snapshot).model_snapshot
    rows = conn.execute(
        sa.select(results.c.status, results.c.error_kind, sa.func.count(),
                  sa.func.coalesce(sa.func.sum(results.c.tokens_in), 0),
                  sa.func.coalesce(sa.func.sum(results.c.tokens_out), 0))
        .where(results.c.run_id == run_id).group_by(results.c.status, results.c.error_kind)
    ).all()
    model = ModelConfig.from_dict(orjson.loads(snapshot))
    by_kind = {r.error_kind: r[2] for r in rows if r.status == "error"}
    tokens_in, tokens_out = int(sum(r[3] for r in rows)), int(sum(r[4] for r in rows))
    figures = {"done": sum(r[2] for r in rows), "errors": sum(by_kind.values()), "tokens_in": tokens_in,
               "tokens_out": tokens_out, "cost": cost(tokens_in, tokens_out, model.price_in, model.price_out)}
    conn.execute(runs.update().where(runs.c.id == run_id).values(**figures, updated_at=utcnow()))
    return figures | {"errors_by_kind": by_kind}


def clear_errors(store: Store, run_id: int) -> int:
    """Drop a run's error results so they are run again; returns how many. The run is queued."""
    with write_transaction(store) as conn:
        run = _locked_run(conn, run_id, runs.c.status, runs.c.lease_owner, runs.c.lease_expires_at,
                          runs.c.model_id, runs.c.dataset_id)
        if run.status == "running" and not _lease_is_free(run.lease_owner, run.lease_expires_at):
            raise RunStateError(f"run {run_id} is running; pause it before retrying its errors")
        errors = sa.and_(results.c.run_id == run_id, results.c.status == "error")
        gone = conn.execute(sa.select(results.c.seq, results.c.record_id).where(errors)).all()
        removed = conn.execute(results.delete().where(errors)).rowcount
        # Like any change to results, each is an event: pages refresh those rows, marks recount them.
        now = utcnow()
        insert_events(conn, [result_event(run_id=run_id, model_id=run.model_id, dataset_id=run.dataset_id, seq=seq,
                                          record_id=record_id, status="pending", error_kind=None, now=now)
                             for seq, record_id in gone])
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            status="queued", status_reason=None, finished_at=None, updated_at=utcnow()))
        _recount(conn, run_id)
        _state_event(conn, run_id, "queued", f"retrying {removed} error(s)")
    return removed


def latest_runs(store: Store, dataset_id: str, model_ids: list[str] | None = None) -> dict[str, int]:
    """For each model, its latest run on the dataset that has results (else its latest run)."""
    with store.engine.connect() as conn:
        return latest_runs_in(conn, dataset_id, model_ids)


def latest_runs_in(conn: sa.Connection, dataset_id: str, model_ids: list[str] | None = None) -> dict[str, int]:
    """``latest_runs`` in the caller's transaction (a write that depends on which run is latest)."""
    query = sa.select(runs.c.id, runs.c.model_id, runs.c.done).where(runs.c.dataset_id == dataset_id,
                                                                     runs.c.kind == ANSWER)
    if model_ids:
        query = query.where(runs.c.model_id.in_(model_ids))
    chosen: dict[str, tuple[bool, int]] = {}
    for run_id, model_id, done in conn.execute(query.order_by(runs.c.id)):
        rank = (done > 0, run_id)
        if model_id not in chosen or rank > chosen[model_id]:
            chosen[model_id] = rank
    order = model_ids or sorted(chosen)
    return {m: chosen[m][1] for m in order if m in chosen}


def column_runs(store: Store, dataset_id: str, column_ids: list[str] | None) -> dict[str, RunInfo]:
    """Column id -> its run, in the order asked: a model id is its latest run on the dataset (left
    out when it has none: a column "not run"), ``run:ID`` that run, which must be on the dataset
    (RunNotFound, RunOfAnotherDataset). None: the latest run of every model run on the dataset."""
    with store.engine.connect() as conn:
        return column_runs_in(conn, dataset_id, column_ids)


def column_runs_in(conn: sa.Connection, dataset_id: str, column_ids: list[str] | None) -> dict[str, RunInfo]:
    """``column_runs`` in the caller's transaction."""
    explicit = {c: run_id for c in column_ids or [] if (run_id := run_id_of(c)) is not None}
    model_ids = [c for c in column_ids or [] if c not in explicit]
    latest = latest_runs_in(conn, dataset_id, model_ids) if column_ids is None or model_ids else {}
    wanted = set(latest.values()) | set(explicit.values())
    found = {row.id: RunInfo.from_row(row)
             for row in conn.execute(sa.select(runs).where(runs.c.id.in_(sorted(wanted))))} if wanted else {}
    for run_id in explicit.values():
        if run_id not in found:
            raise RunNotFound(run_id)
        if found[run_id].dataset_id != dataset_id:
            raise RunOfAnotherDataset(run_id, found[run_id].dataset_id, dataset_id)
        if found[run_id].kind != ANSWER:
            raise JudgeRunNotAColumn(run_id)
    order = column_ids if column_ids is not None else list(latest)
    chosen = {c: found[explicit[c]] if c in explicit else found[latest[c]]
              for c in order if c in explicit or c in latest}
    return chosen

"""Annotation queries: an append-only event log with the current state derived in the same transaction.

Each change sets one field of one state row: an answer's (record × run) or the record's own, so two people editing
different fields of the same record both keep their work, and for the same field the
last write wins while both stay in the log. Undo writes a new event restoring the value
from before, and refuses if someone changed the field since; an event of a bulk action's group
undoes the whole group (annotation_groups.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.domain.annotations import (FLAG_FIELDS, MODEL_FIELDS, PREFERENCE_SPECIAL, AnnotationError, AnswerState,
                                          validate)
from workbench.domain.errors import Conflict, Forbidden
from workbench.domain.model_ids import run_column
from workbench.store.annotation_groups import decode_value, encode_value, lock_dataset, to_json, undo_group
from workbench.store.db import Store, dialect_insert, lock, utcnow, write_transaction
from workbench.store.event_log import insert_events
from workbench.store.runs import RunInfo, column_runs_in
from workbench.store.schema import RECORD_LEVEL, annotation_events, annotations as annotation_states, records, results
from workbench.store.tasks import task_in


class AnnotationConflict(Conflict):
    pass


def _record_seq(conn: sa.Connection, dataset_id: str, record_id: str) -> int:
    seq = conn.execute(sa.select(records.c.seq).where(
        records.c.dataset_id == dataset_id, records.c.record_id == record_id)).scalar()
    if seq is None:
        raise AnnotationError(f"no record {record_id!r} in dataset {dataset_id!r}")
    return seq


def annotate(store: Store, *, dataset_id: str, record_id: str, field: str, value: Any, author: str,
             run_id: int | None = None, model_id: str = "", models: list[str] | None = None) -> dict[str, Any]:
    """Set one annotation; returns the event (with the state it produced).

    An answer's field names its run (``run_id``), or a model (``model_id``: its latest run on the
    dataset, chosen in the write transaction); a record's field (preference, note) names neither.
    ``models``: the columns a preference may name, when the caller limits them."""
    if field in MODEL_FIELDS and not model_id and run_id is None:
        raise AnnotationError(f"{field} is about an answer: say which model (model_id) or run (run_id)")
    stored = validate(field, value, models=models, has_answer=True)  # shape first; what depends on the store below
    with write_transaction(store) as conn:
        seq = _record_seq(conn, dataset_id, record_id)
        run = _answer_run(conn, dataset_id, run_id, model_id) if field in MODEL_FIELDS else None
        key = run.id if run is not None else RECORD_LEVEL
        _lock_field(conn, dataset_id, seq, key)
        if run is not None:
            status = conn.execute(sa.select(results.c.status).where(
                results.c.run_id == run.id, results.c.seq == seq)).scalar()
            current = _state_row(conn, dataset_id, seq, key)
            has_answer = status == "ok" or (current is not None and current["correction"] is not None)
            if status is None and field != "golden":
                raise AnnotationError(f"run {run.id} ({run.model_id}) has no answer for record {record_id!r} yet")
            task = task_in(conn, run.task_name, run.task_version)
            stored = validate(field, value, task=task, has_answer=has_answer or field == "correction")
        elif field == "preference":
            stored = _preferred_column(conn, dataset_id, stored)
        return _write(conn, dataset_id=dataset_id, seq=seq, record_id=record_id,
                      model_id=run.model_id if run is not None else "", run_id=key, field=field, value=stored,
                      author=author, undoes=None)


def _answer_run(conn: sa.Connection, dataset_id: str, run_id: int | None, model_id: str) -> RunInfo:
    """The run an answer's annotation is about: ``run_id`` (on this dataset, of ``model_id`` if
    given too), else the latest run of ``model_id`` here, read in the caller's write transaction."""
    if run_id is not None:
        run = column_runs_in(conn, dataset_id, [run_column(run_id)])[run_column(run_id)]
        if model_id and model_id != run.model_id:
            raise AnnotationError(f"run {run_id} is a run of {run.model_id!r}, not of {model_id!r}")
        return run
    runs = column_runs_in(conn, dataset_id, [model_id])
    if model_id not in runs:
        raise AnnotationError(f"model {model_id!r} has no run on dataset {dataset_id!r}")
    return runs[model_id]


def _preferred_column(conn: sa.Connection, dataset_id: str, value: str | None) -> str | None:
    """A preference names a column; it is kept as its run (run:ID), so a later run of that model
    doesn't inherit it."""
    if value is None or value in PREFERENCE_SPECIAL:
        return value
    runs = column_runs_in(conn, dataset_id, [value])
    if value not in runs:
        raise AnnotationError(f"preference {value!r}: that model has no run on dataset {dataset_id!r}")
    return run_column(runs[value].id)


def _state_row(conn: sa.Connection, dataset_id: str, seq: int, run_key: int) -> dict | None:
    state = annotation_states.c
    row = conn.execute(sa.select(annotation_states).where(
        state.dataset_id == dataset_id, state.seq == seq, state.run_id == run_key)).first()
    return dict(row._mapping) if row else None


def _lock_field(conn: sa.Connection, dataset_id: str, seq: int, run_key: int) -> None:
    """Writers to the same (record, run) take turns from their first read of its state to their
    commit, so what they check still holds when they write, and the log's order (and each event's
    ``previous``) is the order the state was changed in. A bulk action holds the dataset's lock
    alone meanwhile (annotation_groups.lock_dataset)."""
    lock_dataset(conn, dataset_id, shared=True)
    lock(conn, f"annotation:{dataset_id}:{seq}:run:{run_key}")


def _write(conn: sa.Connection, *, dataset_id: str, seq: int, record_id: str, model_id: str, run_id: int,
           field: str, value: Any, author: str, undoes: int | None) -> dict[str, Any]:
    """Append the event and change the state; the caller holds ``_lock_field`` in a write transaction.
    ``run_id`` is the state row's key (RECORD_LEVEL for a record's own fields)."""
    now = utcnow()
    before = _state_row(conn, dataset_id, seq, run_id)
    previous = decode_value(field, before[field]) if before is not None else (False if field in FLAG_FIELDS else None)
    event_run = run_id if run_id != RECORD_LEVEL else None
    event_id = conn.execute(annotation_events.insert().values(
        dataset_id=dataset_id, seq=seq, record_id=record_id, model_id=model_id, run_id=event_run, field=field,
        value=to_json(value), previous=to_json(previous), author=author, undoes=undoes, created_at=now,
    )).inserted_primary_key[0]  # type: ignore[index]  # always set after an INSERT of one row
    changes = {field: encode_value(field, value), "updated_by": author, "updated_at": now}
    statement = dialect_insert(conn, annotation_states).values(
        **{"golden": 0, "reviewed": 0, **changes}, dataset_id=dataset_id, seq=seq, run_id=run_id, model_id=model_id,
        record_id=record_id)
    conn.execute(statement.on_conflict_do_update(index_elements=["dataset_id", "seq", "run_id"], set_=changes))
    state = _public_state(_state_row(conn, dataset_id, seq, run_id))
    event = {"event_id": event_id, "dataset_id": dataset_id, "seq": seq, "record_id": record_id,
             "model_id": model_id, "run_id": event_run, "field": field, "value": value, "previous": previous,
             "author": author, "undoes": undoes, "created_at": now, "state": state}
    insert_events(conn, [{"run_id": None, "type": "annotation", "payload": to_json(event), "created_at": now}])
    return event


def _public_state(row: dict | None) -> dict[str, Any] | None:
    if row is None:
        return None
    run_id = row["run_id"] if row["run_id"] != RECORD_LEVEL else None
    return {"model_id": row["model_id"], "run_id": run_id, "golden": bool(row["golden"]), "judgement": row["judgement"],
            "correction": decode_value("correction", row["correction"]), "preference": row["preference"],
            "note": row["note"], "reviewed": bool(row["reviewed"]), "updated_by": row["updated_by"],
            "updated_at": row["updated_at"]}


def undo(store: Store, *, dataset_id: str, author: str, event_id: int | None = None,
         others: bool = True) -> dict[str, Any]:
    """Undo an event (default: this author's latest change in the dataset that isn't undone yet);
    with ``others=False`` only an event of this author's."""
    # Two undos of one author's "latest" take turns, so they don't both pick the same event.
    with write_transaction(store, f"undo:{dataset_id}:{author}") as conn:
        if event_id is None:
            undone = sa.select(annotation_events.c.undoes).where(
                annotation_events.c.dataset_id == dataset_id, annotation_events.c.undoes.is_not(None))
            event_id = conn.execute(
                sa.select(annotation_events.c.id).where(
                    annotation_events.c.dataset_id == dataset_id, annotation_events.c.author == author,
                    annotation_events.c.undoes.is_(None), annotation_events.c.id.not_in(undone))
                .order_by(annotation_events.c.id.desc()).limit(1)
            ).scalar()
            if event_id is None:
                raise AnnotationConflict("nothing to undo")
        event = conn.execute(sa.select(annotation_events).where(annotation_events.c.id == event_id)).first()
        if event is None or event.dataset_id != dataset_id:
            raise AnnotationConflict(f"no annotation event {event_id} in dataset {dataset_id!r}")
        if not others and event.author != author:
            raise Forbidden(f"annotation event {event_id} is {event.author}'s; only an admin may undo another's change")
        if event.group_id is not None:  # a bulk action: undone together
            return undo_group(conn, dataset_id=dataset_id, group_id=event.group_id, author=author)
        if event.model_id and event.run_id is None:
            raise AnnotationConflict(f"annotation event {event_id} is about an answer whose run is gone; not undone")
        key = event.run_id if event.run_id is not None else RECORD_LEVEL
        _lock_field(conn, dataset_id, event.seq, key)
        if conn.execute(sa.select(annotation_events.c.id).where(
                annotation_events.c.dataset_id == dataset_id, annotation_events.c.seq == event.seq,
                annotation_events.c.undoes == event_id)).first():
            raise AnnotationConflict(f"annotation event {event_id} is undone already")
        state = _state_row(conn, dataset_id, event.seq, key)
        current = decode_value(event.field, state[event.field]) if state else None
        if current != orjson.loads(event.value):
            raise AnnotationConflict(
                f"{event.field} was changed since (by {state['updated_by'] if state else 'someone'}); not undone")
        return _write(conn, dataset_id=dataset_id, seq=event.seq, record_id=event.record_id,
                      model_id=event.model_id, run_id=key, field=event.field,
                      value=orjson.loads(event.previous), author=author, undoes=event_id)


def history(store: Store, dataset_id: str, record_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    query = sa.select(annotation_events).where(annotation_events.c.dataset_id == dataset_id)
    if record_id is not None:
        query = query.where(annotation_events.c.record_id == record_id)
    with store.engine.connect() as conn:
        rows = conn.execute(query.order_by(annotation_events.c.id.desc()).limit(limit)).mappings().all()
    return [{**dict(r), "value": orjson.loads(r["value"]) if r["value"] else None,
             "previous": orjson.loads(r["previous"]) if r["previous"] else None} for r in rows]


def answer_states(store: Store, dataset_id: str, seqs: Iterable[int] | None = None,
                  golden_only: bool = False) -> dict[int, list[AnswerState]]:
    """Model-level annotation states (with the annotated answer) for these records, or all of them."""
    query = (
        sa.select(annotation_states, results.c.output, results.c.status)
        .select_from(annotation_states.outerjoin(results, sa.and_(results.c.run_id == annotation_states.c.run_id,
                                                            results.c.seq == annotation_states.c.seq)))
        .where(annotation_states.c.dataset_id == dataset_id, annotation_states.c.run_id != RECORD_LEVEL)
    )
    if seqs is not None:
        seqs = list(seqs)
        if not seqs:
            return {}
        query = query.where(annotation_states.c.seq.in_(seqs))
    if golden_only:
        query = query.where(annotation_states.c.golden == 1)
    found: dict[int, list[AnswerState]] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(query.order_by(annotation_states.c.seq)).mappings():
            output = orjson.loads(r["output"]) if r["output"] and r["status"] == "ok" else None
            found.setdefault(r["seq"], []).append(AnswerState(
                model_id=r["model_id"], run_id=r["run_id"], output=output, golden=bool(r["golden"]),
                judgement=r["judgement"], correction=decode_value("correction", r["correction"]),
                updated_by=r["updated_by"], updated_at=r["updated_at"]))
    return found


def record_notes(store: Store, dataset_id: str, seqs: Iterable[int]) -> dict[int, dict[str, Any]]:
    seqs = list(seqs)
    if not seqs:
        return {}
    with store.engine.connect() as conn:
        state = annotation_states.c
        rows = conn.execute(sa.select(state.seq, state.preference, state.note).where(
            annotation_states.c.dataset_id == dataset_id, annotation_states.c.seq.in_(seqs),
            annotation_states.c.run_id == RECORD_LEVEL)).all()
    return {r.seq: {"preference": r.preference, "note": r.note} for r in rows}


def golden_count(store: Store, dataset_id: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count(sa.distinct(annotation_states.c.seq))).where(
            annotation_states.c.dataset_id == dataset_id, annotation_states.c.golden == 1)).scalar_one()

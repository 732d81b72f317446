"""Each annotator's own standing labels, read from the annotation log (the state table keeps only
the last writer's value, so agreement between people has to be read from the events).

An author's standing value for a (record, run, field) is their latest event on it that is not an
undo and is not undone: undoing a change gives back that author's value from before it (and
undoing their only change leaves them with none). An undo that is itself undone puts its event
back. A value set to null (a judgement or preference cleared) counts as no label.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.store.db import Store
from workbench.store.schema import RECORD_LEVEL, annotation_events, annotations as annotation_states

# The fields people can agree or disagree on: an answer's judgement and golden mark (per record
# and run), a record's preference (per record).
ANSWER_FIELDS = ("judgement", "golden")
RECORD_FIELDS = ("preference",)
AGREEMENT_FIELDS = ANSWER_FIELDS + RECORD_FIELDS

# unit key (seq, run_id; run_id is RECORD_LEVEL for a preference) -> author -> label
Units = dict[tuple[int, int], dict[str, Any]]


def standing_labels(store: Store, dataset_id: str, run_ids: Iterable[int],
                    fields: Iterable[str] = AGREEMENT_FIELDS) -> dict[str, Units]:
    """Field -> the units two or more annotators labelled -> each one's standing label. Answer
    fields are read for ``run_ids`` only (the columns compared); preferences for every record."""
    fields = [f for f in fields if f in AGREEMENT_FIELDS]
    runs = sorted(set(run_ids))
    events, undos, standing = (annotation_events.alias(name) for name in ("e", "u", "s"))
    # Undo events that stand (no undo names them) undo their targets. Subqueries that don't depend
    # on the outer row, so each is read once (no index on ``undoes``).
    targets = sa.select(undos.c.undoes).where(undos.c.dataset_id == dataset_id, undos.c.undoes.is_not(None))
    standing_undo = sa.select(standing.c.undoes).where(
        standing.c.dataset_id == dataset_id, standing.c.undoes.is_not(None), standing.c.id.not_in(targets))
    about = []
    if runs and any(f in ANSWER_FIELDS for f in fields):
        about.append(sa.and_(events.c.field.in_([f for f in fields if f in ANSWER_FIELDS]),
                             events.c.run_id.in_(runs)))
    if "preference" in fields:
        about.append(sa.and_(events.c.field == "preference", events.c.run_id.is_(None), events.c.model_id == ""))
    found: dict[str, Units] = {f: {} for f in fields}
    if not about:
        return found
    run_key = sa.func.coalesce(events.c.run_id, RECORD_LEVEL)
    latest = (sa.select(sa.func.max(events.c.id))
              .where(events.c.dataset_id == dataset_id, events.c.undoes.is_(None), sa.or_(*about),
                     events.c.id.not_in(standing_undo))
              .group_by(events.c.seq, run_key, events.c.field, events.c.author))
    chosen = annotation_events.c
    query = (sa.select(chosen.seq, chosen.run_id, chosen.field, chosen.author, chosen.value)
             .where(chosen.id.in_(latest), chosen.value.is_not(None), chosen.value != "null")
             .order_by(chosen.seq, chosen.run_id, chosen.author))
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            key = (row.seq, row.run_id if row.run_id is not None else RECORD_LEVEL)
            found[row.field].setdefault(key, {})[row.author] = _label(row.field, orjson.loads(row.value))
    return {field: {key: labels for key, labels in units.items() if len(labels) >= 2}
            for field, units in found.items()}


def _label(field: str, value: Any) -> Any:
    return bool(value) if field == "golden" else value


def stated_seqs(store: Store, dataset_id: str) -> list[int]:
    """The records (seqs, ascending) with a preference or a correction standing: what preference
    pairs are made of."""
    state = annotation_states.c
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(state.seq).distinct().where(
            state.dataset_id == dataset_id,
            sa.or_(state.preference.is_not(None), state.correction.is_not(None))).order_by(state.seq)).scalars())

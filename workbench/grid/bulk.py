"""The records a bulk action marks: exactly those the grid shows for its query, in any order.

The grid's own selection (selection.py's conditions, as corrected, with the drill's records) read
as one scan of (seq, record id) — plus, for an action on one column's answers, whether that
column has an answer to mark (a valid one, or a person's fix) and whether it has a result at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from workbench.grid.corrections import corrected_answers
from workbench.grid.selection import GridQuery, Joins
from workbench.store.db import Store
from workbench.store.schema import annotations as annotation_states, records


@dataclass(frozen=True)
class Selected:
    seq: int
    record_id: str
    answered: bool  # the column has a valid answer, or a fixed one (True without a column)
    has_result: bool  # the column has a result, valid or not (True without a column)


def selected_records(conn: sa.Connection, store: Store, query: GridQuery, column: str | None = None) -> list[Selected]:
    """Every record the grid shows for ``query`` (its filter, search, verdict filters and drill), in
    record order, read on ``conn`` (a bulk write reads them in its own write transaction)."""
    corrected = corrected_answers(conn, store, query)
    joins = Joins(query, store.dialect, corrected=corrected)
    columns: list[sa.ColumnElement] = [records.c.seq, records.c.record_id]
    if column is not None:
        columns.append(joins.results[column].c.status)
    statement = (sa.select(*columns).select_from(joins.from_clause()).where(joins.condition(query.filter))
                 .order_by(records.c.seq))
    rows = conn.execute(statement).all()
    if query.within is not None:
        members = set(query.within)
        rows = [row for row in rows if row[0] in members]
    if column is None:
        return [Selected(row[0], row[1], True, True) for row in rows]
    state = annotation_states.c
    fixed = set(conn.execute(sa.select(state.seq).where(
        state.dataset_id == query.dataset_id, state.run_id == query.run_ids[column],
        state.correction.is_not(None))).scalars())
    return [Selected(row[0], row[1], row[2] == "ok" or row[0] in fixed, row[2] is not None) for row in rows]

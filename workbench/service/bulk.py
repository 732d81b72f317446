"""Bulk actions: mark every record the grid shows for a query at once, as one undoable group.

First asked with ``confirm=False`` (nothing written: how many records, how many would be skipped),
then with ``confirm=True``: one write transaction reads the selection again and writes the group
(store/annotation_groups.py), so what is marked is what the grid shows at that moment.
"""

from __future__ import annotations

from typing import Any

from workbench.domain.errors import InvalidInput
from workbench.grid.bulk import Selected, selected_records
from workbench.service.curation import local_author
from workbench.service.grid import grid_selection
from workbench.store.annotation_groups import Change, write_group
from workbench.store.db import Store, write_transaction
from workbench.store.schema import RECORD_LEVEL

# action -> (annotation field, value, about one column's answers)
ACTIONS: dict[str, tuple[str, Any, bool]] = {
    "reviewed": ("reviewed", True, False),
    "golden": ("golden", True, True),
    "wrong": ("judgement", "wrong", True),
}


class BadBulkAction(InvalidInput):
    """An action, or a column for it, that a bulk action can't take."""


def _markable(action: str, record: Selected) -> bool:
    """Golden needs an answer to keep (a valid one, or a fix); wrong needs an answer at all."""
    if action == "golden":
        return record.answered
    return record.has_result


def bulk_annotate(store: Store, *, dataset_id: str, action: str, column: str | None = None, confirm: bool = False,
                  author: str | None = None, models: str | None = None, filter: str = "all", q: str | None = None,
                  diff_field: str | None = None, verdicts: list[str] | None = None,
                  drill: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Mark the records the grid shows for this query (``grid_view``'s params): ``reviewed`` (the
    record), ``golden`` or ``wrong`` (``column``'s answer, a column of the query). Returns {count:
    records in the selection, marked: those the action applies to, skipped, and with ``confirm``:
    changed (those not already so) and group_id (None when nothing changed)}."""
    if action not in ACTIONS:
        raise BadBulkAction(f"action must be one of {', '.join(ACTIONS)}")
    field, value, on_answers = ACTIONS[action]
    chosen = grid_selection(store, dataset_id, models=models, filter=filter, q=q, diff_field=diff_field,
                            verdicts=verdicts, drill=drill)
    query = chosen.query
    if on_answers:
        if not column:
            raise BadBulkAction(f"{action} is about one column's answers: say which column")
        if column not in query.run_ids:
            raise BadBulkAction(f"column {column!r} is not among this view's columns with a run")
    elif column:
        raise BadBulkAction(f"{action} is about the record, not a column's answer: leave column out")
    run = chosen.runs[column] if on_answers and column else None

    def plan(found: list[Selected]) -> tuple[list[Selected], dict[str, Any]]:
        targets = [record for record in found if _markable(action, record)] if on_answers else found
        summary = {"action": action, "column": column, "count": len(found), "marked": len(targets),
                   "skipped": len(found) - len(targets), "run_id": run.id if run else None}
        return targets, summary

    if not confirm:
        with store.engine.connect() as conn:
            return plan(selected_records(conn, store, query, column))[1]
    who = author or local_author()
    with write_transaction(store) as conn:
        targets, summary = plan(selected_records(conn, store, query, column))
        changes = [Change(t.seq, t.record_id, run.id if run else RECORD_LEVEL, run.model_id if run else "", value)
                   for t in targets]
        written = write_group(conn, dataset_id=dataset_id, field=field, changes=changes, author=who)
    return {**summary, "changed": written["changed"], "group_id": written["group_id"]}

"""Filter counts for the grid: how many records each filter would show.

See ``grid_counts``; the query plans are in docs/grid-queries.md.
"""

from __future__ import annotations

import sqlalchemy as sa

from workbench.store.db import Store
from workbench.store.marks import record_marks
from workbench.store.schema import annotations, records
from workbench.store.selection import GridQuery, Joins


def grid_counts(store: Store, query: GridQuery) -> dict[str, int]:
    """How many records each filter would show (with the same search).

    Results change in runs; annotations change one record at a time. So the counts are
    results-only counts, kept with a mark per record and updated only for records with new
    results, plus a correction from the annotated records alone (they are few), read afresh.
    After the first time, neither a result nor an annotation costs a scan of the dataset.
    """
    joins = Joins(query, store.dialect)
    with store.engine.connect() as conn:
        base = _result_counts(conn, store, query)
        fix = _annotation_corrections(conn, query, joins)
    return {
        "all": base["all"],
        "differences": base["differences"],
        "golden": fix["golden"],
        # A record without annotations needs review exactly when it has an error or a difference.
        "needs_review": base["flagged"] + fix["needs_review"] - fix["flagged"],
        "fixed": fix["fixed"],
        "unreviewed": base["all"] - fix["reviewed"],
    }


def _count_where(condition):
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# The results-only marks behind the counts: counted at all (matches the search), differs, flagged.
MATCH, DIFFERENT, FLAGGED = 1, 2, 4
_COUNTED = {"all": MATCH, "differences": MATCH | DIFFERENT, "flagged": MATCH | FLAGGED}


def _count_marks(joins: Joins) -> sa.ColumnElement:
    return (sa.case((joins.condition("all"), MATCH), else_=0)
            + sa.case((joins.differences(joins.query.diff_field), DIFFERENT), else_=0)
            + sa.case((joins.flagged(), FLAGGED), else_=0))


def _result_counts(conn: sa.Connection, store: Store, query: GridQuery) -> dict[str, int]:
    marks = record_marks(conn, store, query, "counts", _count_marks)
    histogram = [marks.count(value) for value in range(8)]
    return {name: sum(n for value, n in enumerate(histogram) if value & bits == bits) for name, bits in _COUNTED.items()}


def _annotation_corrections(conn: sa.Connection, query: GridQuery, joins: Joins) -> dict[str, int]:
    """Over annotated records only: the annotation filters, and how needs-review differs there
    from the results-only guess ("flagged")."""
    per_model = annotations.c.model_id.in_(list(query.run_ids))
    on_answer = lambda condition: sa.func.max(sa.case((sa.and_(per_model, condition), 1), else_=0))  # noqa: E731
    record_level = sa.and_(annotations.c.model_id == "", sa.or_(annotations.c.preference.is_not(None),
                                                                annotations.c.note.is_not(None)))
    folded = (
        sa.select(
            annotations.c.seq,
            on_answer(annotations.c.golden == 1).label("golden"),
            on_answer(annotations.c.judgement == "wrong").label("wrong"),
            on_answer(annotations.c.correction.is_not(None)).label("fixed"),
            sa.func.max(sa.case((sa.or_(
                sa.and_(per_model, sa.or_(annotations.c.golden == 1, annotations.c.judgement.is_not(None),
                                          annotations.c.correction.is_not(None))),
                record_level), 1), else_=0)).label("reviewed"),
        )
        .where(annotations.c.dataset_id == query.dataset_id)
        .group_by(annotations.c.seq)
        .subquery("folded")
    )
    joined = joins.from_clause().join(folded, folded.c.seq == records.c.seq)
    flag = lambda name: folded.c[name] == 1  # noqa: E731
    statement = sa.select(
        _count_where(flag("golden")).label("golden"),
        _count_where(flag("fixed")).label("fixed"),
        _count_where(flag("reviewed")).label("reviewed"),
        _count_where(joins.flagged()).label("flagged"),
        _count_where(sa.or_(flag("wrong"), joins.errored(), sa.and_(joins.differences(), sa.not_(flag("reviewed"))))
                     ).label("needs_review"),
    ).select_from(joined).where(joins.condition("all"))
    row = conn.execute(statement).mappings().one()
    return {name: int(value) for name, value in row.items()}

"""Filter counts for the grid: how many records each filter would show.

See ``grid_counts``; the query plans are in docs/grid-queries.md.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from workbench.domain.review import PYTHON, ReviewFacts, needs_review
from workbench.grid.corrections import NONE, CorrectedAnswers, corrected_answers
from workbench.grid.marks import record_marks
from workbench.grid.selection import ANSWER_REVIEWED, MARKED_WRONG, RECORD_REVIEWED, GridQuery, Joins, marked
from workbench.store.runs import latest_runs
from workbench.store.db import Store
from workbench.store.faults import storage_problem
from workbench.store.schema import RECORD_LEVEL, annotations as annotation_states, datasets

# What the results say about a record, a bit each: it matches the search; the models differ (on
# the chosen field, for "differences"); an answer failed; the models differ on any verdict.
MATCH, DIFFERENT, ERRORED, DIFFER_ANY = 1, 2, 4, 8


def grid_counts(store: Store, query: GridQuery) -> dict[str, int]:
    """How many records each filter would show (with the same search).

    Results change in runs; annotations change one record at a time. So the results' side is a
    mark per record, kept current (marks.py), counted with ``bytes.count``; the annotations'
    side is read afresh from the annotated records alone (they are few), whose marks say the
    rest. After the first time, neither a result nor an annotation costs a scan of the dataset.
    With ``query.within`` (a drill-down) every count is counted among those records only.
    """
    with store.engine.connect() as conn:
        marks = record_marks(conn, store, query, "counts", _count_marks)
        notes = _annotation_flags(conn, query)
        corrected = corrected_answers(conn, store, query) if any(n[3] for n in notes) else NONE
    if query.within is None:
        histogram = [marks.count(value) for value in range(16)]
    else:  # in a drill-down, each filter's count is counted among the drill's records
        histogram = [0] * 256
        for seq in query.within:
            histogram[marks[seq] if seq < len(marks) else 0] += 1
        members = set(query.within)
        notes = [note for note in notes if note[0] in members]

    def having(bits: int) -> int:
        return sum(n for value, n in enumerate(histogram) if value & bits == bits)

    # Records without annotations first (all of them, by their marks); an annotated record's
    # verdict is then corrected by what its annotations say.
    flagged = sum(n for value, n in enumerate(histogram) if value & MATCH and _needs_review(value))
    counts = {"all": having(MATCH), "differences": having(MATCH | DIFFERENT), "golden": 0,
              "needs_review": flagged, "fixed": 0, "unreviewed": having(MATCH)}
    for seq, golden, wrong, fixed, reviewed in notes:
        mark = marks[seq] if seq < len(marks) else 0
        if not mark & MATCH:
            continue
        counts["golden"] += golden
        counts["fixed"] += fixed
        counts["unreviewed"] -= reviewed
        # A fixed record differs or not by its answers as corrected, not by its mark.
        now = _as_corrected(mark, corrected, seq, query) if seq in corrected else mark
        counts["differences"] += bool(now & DIFFERENT) - bool(mark & DIFFERENT)
        counts["needs_review"] += _needs_review(now, bool(wrong), bool(reviewed)) - _needs_review(mark)
    return counts


def _as_corrected(mark: int, corrected: CorrectedAnswers, seq: int, query: GridQuery) -> int:
    """``mark`` with its two "differ" bits said by the answers as corrected (corrections.py)."""
    differ_any = bool(corrected.differ(seq, query.verdict_fields))
    differ_chosen = differ_any if query.diff_field is None else bool(corrected.differ(seq, [query.diff_field]))
    return mark & ~(DIFFERENT | DIFFER_ANY) | (DIFFER_ANY if differ_any else 0) | (DIFFERENT if differ_chosen else 0)


def _rule(mark: int, marked_wrong: bool, reviewed: bool) -> bool:
    facts = ReviewFacts(marked_wrong=marked_wrong, errored=bool(mark & ERRORED),
                        models_differ=bool(mark & DIFFER_ANY), reviewed=reviewed)
    return needs_review(facts, PYTHON)


# The rule for every mark × (marked wrong, reviewed), worked out once: counting asks it twice per
# annotated record, thousands of times per request.
_NEEDS_REVIEW = {(mark, wrong, reviewed): _rule(mark, wrong, reviewed)
                 for mark in range(16) for wrong in (False, True) for reviewed in (False, True)}


def _needs_review(mark: int, marked_wrong: bool = False, reviewed: bool = False) -> bool:
    return _NEEDS_REVIEW[mark & 15, marked_wrong, reviewed]


def _count_marks(joins: Joins) -> sa.ColumnElement:
    mark = sa.case((joins.condition("all"), MATCH), else_=0) + sa.case((joins.errored(), ERRORED), else_=0)
    if joins.query.diff_field is None:  # the same question twice: ask it once
        return mark + sa.case((joins.differences(), DIFFERENT | DIFFER_ANY), else_=0)
    return (mark + sa.case((joins.differences(joins.query.diff_field), DIFFERENT), else_=0)
            + sa.case((joins.differences(), DIFFER_ANY), else_=0))


def _annotation_flags(conn: sa.Connection, query: GridQuery) -> list[tuple[int, int, int, int, int]]:
    """(seq, golden, wrong, fixed, reviewed) of each annotated record, for the selected columns'
    answers (and the record's own preference and note): an index range of the annotations."""
    per_model = annotation_states.c.run_id.in_(sorted(set(query.run_ids.values())))
    on_answer = lambda condition: sa.func.max(sa.case((sa.and_(per_model, condition), 1), else_=0))  # noqa: E731
    record_level = sa.and_(annotation_states.c.run_id == RECORD_LEVEL, RECORD_REVIEWED)
    statement = (
        sa.select(
            annotation_states.c.seq,
            on_answer(marked("golden")),
            on_answer(MARKED_WRONG),
            on_answer(marked("correction")),
            sa.func.max(sa.case((sa.or_(sa.and_(per_model, ANSWER_REVIEWED), record_level), 1), else_=0)),
        )
        .where(annotation_states.c.dataset_id == query.dataset_id)
        .group_by(annotation_states.c.seq)
    )
    return [tuple(row) for row in conn.execute(statement)]


def warm_up(store: Store, *, min_records: int = 50_000, limit: int = 8) -> list[str]:
    """Count the default selection (every model run on it) of the newest big datasets, so the
    first page shown after a server starts finds the counts' marks built. Returns their ids."""
    warmed = []
    try:
        with store.engine.connect() as conn:
            ids = conn.execute(sa.select(datasets.c.id).where(datasets.c.record_count >= min_records)
                               .order_by(datasets.c.created_at.desc()).limit(limit)).scalars().all()
        for dataset_id in ids:
            grid_counts(store, GridQuery(dataset_id, latest_runs(store, dataset_id), []))
            warmed.append(dataset_id)
    except sa.exc.SQLAlchemyError as exc:  # e.g. the server stopping meanwhile: the page counts later
        logging.getLogger(__name__).warning("warm-up stopped: %s", storage_problem(exc))
    return warmed

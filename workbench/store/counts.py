"""Filter counts for the grid: how many records each filter would show.

See ``grid_counts``; the query plans are in docs/grid-queries.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from workbench.store.db import Store
from workbench.store.grid import GridQuery, Joins
from workbench.store.schema import annotations, datasets, events, records


def grid_counts(store: Store, query: GridQuery) -> dict[str, int]:
    """How many records each filter would show (with the same search).

    Results change in runs; annotations change one record at a time. So the counts are
    results-only counts, kept with a mark per record and updated only for records with new
    results, plus a correction from the annotated records alone (they are few), read afresh.
    After the first time, neither a result nor an annotation costs a scan of the dataset.
    """
    joins = Joins(query, store.dialect)
    with store.engine.connect() as conn:
        base = _result_counts(conn, store, query, joins)
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


def _errored(joins: Joins):
    return sa.or_(sa.false(), *[sa.func.coalesce(r.c.status, "") == "error" for r in joins.results.values()])


def _flagged(joins: Joins):
    """Needs review before anyone looks: an answer failed or the models disagree."""
    return sa.or_(_errored(joins), joins.differences())


def _count_where(condition):
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


# A record's marks for one selection: counted at all (matches the search), differs, flagged.
MATCH, DIFFERENT, FLAGGED = 1, 2, 4
_MAX_TOUCHED = 20_000  # beyond this many new results since last time, rescanning is cheaper


@dataclass
class _Tally:
    """Results-only counts of one selection, with each record's marks (a byte per record), so
    new results update them record by record instead of rescanning the dataset."""
    version: tuple
    marks: bytearray
    counts: dict[str, int]

    def set(self, seq: int, mark: int) -> None:
        if seq >= len(self.marks):
            self.marks.extend(bytes(seq + 1 - len(self.marks)))
        for name, bits in _COUNTED.items():
            self.counts[name] += ((mark & bits) == bits) - ((self.marks[seq] & bits) == bits)
        self.marks[seq] = mark


_COUNTED = {"all": MATCH, "differences": MATCH | DIFFERENT, "flagged": MATCH | FLAGGED}
_TALLIES: dict[tuple, _Tally] = {}
_TALLIES_LOCK = threading.Lock()


def _result_counts(conn: sa.Connection, store: Store, query: GridQuery, joins: Joins) -> dict[str, int]:
    key = (store.settings.database_url, query.dataset_id, tuple(query.run_ids.items()), query.q, query.diff_field,
           tuple(query.verdicts or ()))
    with _TALLIES_LOCK:
        # The version is read before the marks: a result landing in between is seen twice, and
        # recomputing a record's marks from the current rows is the same both times.
        version = _results_version(conn, query)
        tally = _TALLIES.get(key)
        if tally is None or tally.version[0] != version[0]:
            tally = _TALLIES[key] = _Tally(version, bytearray(), {name: 0 for name in _COUNTED})
            _remark(conn, joins, tally, None)
        elif tally.version != version:
            touched = _touched_records(conn, query, tally.version, version)
            _remark(conn, joins, tally, touched)
            tally.version = version
        if len(_TALLIES) > 64:
            _TALLIES.clear()
            _TALLIES[key] = tally
        return dict(tally.counts)


def _remark(conn: sa.Connection, joins: Joins, tally: _Tally, seqs: list[int] | None) -> None:
    """Recompute the marks of these records (None: of every record) from the current results."""
    if seqs is None:
        tally.marks, tally.counts = bytearray(), {name: 0 for name in _COUNTED}
    elif not seqs:
        return
    mark = (sa.case((joins.condition("all"), MATCH), else_=0)
            + sa.case((joins.differences(joins.query.diff_field), DIFFERENT), else_=0)
            + sa.case((_flagged(joins), FLAGGED), else_=0))
    statement = sa.select(records.c.seq, mark).select_from(joins.from_clause()).where(
        records.c.dataset_id == joins.query.dataset_id)
    if seqs is None:
        marks = tally.marks
        for seq, value in conn.execute(statement):
            if seq >= len(marks):
                marks.extend(bytes(max(seq + 1 - len(marks), len(marks))))
            marks[seq] = value
        histogram = [marks.count(value) for value in range(8)]
        tally.counts = {name: sum(n for value, n in enumerate(histogram) if value & bits == bits)
                        for name, bits in _COUNTED.items()}
        return
    for i in range(0, len(seqs), 1000):
        for seq, value in conn.execute(statement.where(records.c.seq.in_(seqs[i:i + 1000]))):
            tally.set(seq, value)


def _results_version(conn: sa.Connection, query: GridQuery) -> tuple:
    """(the dataset's creation time, then each selected run's latest event id): every result
    write, retry or state change of a run writes an event. One index probe per run."""
    latest = [sa.select(sa.func.max(events.c.id)).where(events.c.run_id == run_id).scalar_subquery()
              for run_id in query.run_ids.values()]
    created = sa.select(datasets.c.created_at).where(datasets.c.id == query.dataset_id).scalar_subquery()
    return tuple(conn.execute(sa.select(created, *latest)).one())


def _touched_records(conn: sa.Connection, query: GridQuery, old: tuple, new: tuple) -> list[int] | None:
    """Records with new results in the selected runs since ``old``; None when only a rescan will
    do (a run changed state, which may have removed results, or very many results landed)."""
    touched: set[int] = set()
    for run_id, since, until in zip(query.run_ids.values(), old[1:], new[1:]):
        if since == until:
            continue
        if since is None or until is None:
            return None
        rows = conn.execute(sa.select(events.c.type, events.c.payload).where(
            events.c.run_id == run_id, events.c.id > since, events.c.id <= until).limit(_MAX_TOUCHED + 1)).all()
        if len(rows) > _MAX_TOUCHED:
            return None
        for kind, payload in rows:
            if kind == "result":
                touched.add(orjson.loads(payload)["seq"])
            elif kind != "progress":
                return None
    return sorted(touched)


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
        _count_where(_flagged(joins)).label("flagged"),
        _count_where(sa.or_(flag("wrong"), _errored(joins), sa.and_(joins.differences(), sa.not_(flag("reviewed"))))
                     ).label("needs_review"),
    ).select_from(joined).where(joins.condition("all"))
    row = conn.execute(statement).mappings().one()
    return {name: int(value) for name, value in row.items()}

"""The grid's orders by a score per record: most contested first, and review by expected value.

Both start from the contest marks (a byte per record: matches the search, then on how many verdict
fields the columns differ; marks.py keeps them current as results land), with the corrected
records' scores put in from their answers as corrected. The value order then puts in what the
few annotated and judged records add (domain/review_value.py): the annotations are read afresh
(an index range), the judges' suggestions once per version of the judge runs. So after the first
scan a page costs a translate of the marks and a patch of the records people or judges touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa

from workbench.domain.judging import Suggestion
from workbench.domain.review_value import MAX_FIELDS, ValueFacts, decision_value, judge_state
from workbench.grid.corrections import CorrectedAnswers
from workbench.grid.marks import record_marks
from workbench.grid.selection import ANSWER_REVIEWED, RECORD_REVIEWED, GridQuery, Joins
from workbench.store.db import Store, store_cache
from workbench.store.schema import RECORD_LEVEL, annotation_events, annotations as annotation_states, events, runs

Judged = Callable[[list[int] | None], dict[int, list[Suggestion]]]  # seqs (None: all) -> suggestions


def _contest_marks(joins: Joins) -> sa.ColumnElement:
    """1 if the record matches the search, plus twice its disagreement score."""
    return sa.case((joins.condition("all"), 1), else_=0) + 2 * joins.disagreement_score()


def contest_marks(conn: sa.Connection, store: Store, query: GridQuery, corrected: CorrectedAnswers) -> bytes:
    """marks[seq] = matches | disagreement score << 1, the fixed records scored as corrected."""
    marks = record_marks(conn, store, query, "contest", _contest_marks)
    if not corrected:
        return marks
    rescored = bytearray(marks)
    for seq, score in corrected.disagreement_scores(query.verdict_fields).items():
        if seq < len(rescored):
            rescored[seq] = rescored[seq] & 1 | score << 1
    return bytes(rescored)


def _value_table(reviewed: bool) -> bytes:
    """contest mark -> value mark, for a record nobody judged (reviewed or not)."""
    return bytes((decision_value(ValueFacts(min(mark >> 1, MAX_FIELDS), reviewed)) << 1 | 1) if mark & 1 else 0
                 for mark in range(256))


_PLAIN, _REVIEWED = _value_table(False), _value_table(True)


class _ValueCache:
    MAX_SELECTIONS = 64

    def __init__(self) -> None:
        self.entries: dict[tuple, tuple[bytes, tuple, bytes]] = {}  # key -> (contest, versions, value marks)
        self.lock = threading.Lock()


def value_marks(conn: sa.Connection, store: Store, query: GridQuery, corrected: CorrectedAnswers,
                judged: Judged | None) -> bytes:
    """marks[seq] = matches | decision value << 1 (0 for a record that doesn't match). Kept per
    selection while its contest marks, the annotations and the judge runs stay as they were."""
    contest = contest_marks(conn, store, query, corrected)
    versions = (conn.execute(sa.select(sa.func.max(annotation_events.c.id))).scalar(), judge_version(conn, query))
    cache: _ValueCache = store_cache(store, "grid.value_marks", _ValueCache)
    key = (query.dataset_id, tuple(sorted(query.run_ids.items())), query.q, query.diff_field,
           tuple(query.verdicts or ()), judged is not None)
    with cache.lock:
        entry = cache.entries.get(key)
    if entry is not None and entry[1] == versions and entry[0] == contest:
        return entry[2]
    marks = bytearray(contest.translate(_PLAIN))
    reviewed = reviewed_seqs(conn, query)
    size = len(marks)
    for seq in reviewed:
        if seq < size:
            marks[seq] = _REVIEWED[contest[seq]]
    for seq, said in judge_suggestions(conn, store, query, judged, versions[1]).items():
        if seq < size and contest[seq] & 1:
            facts = ValueFacts(contest[seq] >> 1, seq in reviewed, judge_state(said))
            marks[seq] = decision_value(facts) << 1 | 1
    found = bytes(marks)
    with cache.lock:
        if len(cache.entries) >= cache.MAX_SELECTIONS:
            cache.entries.clear()
        cache.entries[key] = (contest, versions, found)
    return found


def reviewed_seqs(conn: sa.Connection, query: GridQuery) -> set[int]:
    """The records someone has looked at (review.looked_at): an index range of the annotations."""
    state = annotation_states.c
    selected = sorted(set(query.run_ids.values()))
    looked = sa.or_(sa.and_(state.run_id.in_(selected), ANSWER_REVIEWED) if selected else sa.false(),
                    sa.and_(state.run_id == RECORD_LEVEL, RECORD_REVIEWED))
    return set(conn.execute(sa.select(state.seq).where(state.dataset_id == query.dataset_id, looked)).scalars())


class _Suggestions:
    MAX_SELECTIONS = 32

    def __init__(self) -> None:
        self.entries: dict[tuple, tuple[tuple, dict[int, list[Suggestion]]]] = {}
        self.lock = threading.Lock()


def judge_version(conn: sa.Connection, query: GridQuery) -> tuple:
    """Each judge run of the dataset with its latest event: a new verdict or a new judge changes it."""
    latest = sa.select(sa.func.max(events.c.id)).where(events.c.run_id == runs.c.id).scalar_subquery()
    return tuple(tuple(row) for row in conn.execute(sa.select(runs.c.id, latest).where(
        runs.c.dataset_id == query.dataset_id, runs.c.kind == "judge").order_by(runs.c.id)))


def judge_suggestions(conn: sa.Connection, store: Store, query: GridQuery, judged: Judged | None,
                      version: tuple) -> dict[int, list[Suggestion]]:
    """Every record's judge suggestions for the selection's columns, asked again only when the
    judge runs' ``version`` changed."""
    if judged is None or len(query.run_ids) < 2 or not version:
        return {}
    cache: _Suggestions = store_cache(store, "grid.judge_suggestions", _Suggestions)
    key = (query.dataset_id, tuple(sorted(query.run_ids.items())))
    with cache.lock:
        entry = cache.entries.get(key)
    if entry is not None and entry[0] == version:
        return entry[1]
    found = judged(None)
    with cache.lock:
        if len(cache.entries) >= cache.MAX_SELECTIONS:
            cache.entries.clear()
        cache.entries[key] = (version, found)
    return found


def ranked(marks: bytes, top_score: int, after: tuple[int, ...] | None) -> Iterator[tuple[int, int]]:
    """(score, seq) of matching records (marks: matches | score << 1), highest score first, then by
    seq; after a cursor's (score, seq)."""
    start_score, last_seq = after if after else (top_score, 0)
    for score in range(min(start_score, top_score), -1, -1):
        needle = bytes([score << 1 | 1])
        position = last_seq + 1 if score == start_score else 1
        while (position := marks.find(needle, position)) != -1:
            yield score, position
            position += 1


def ranked_among(marks: bytes, seqs: Iterable[int], after: tuple[int, ...] | None) -> list[tuple[int, int]]:
    """``ranked`` for a few given records."""
    found = sorted(((marks[seq] >> 1, seq) for seq in seqs if seq < len(marks) and marks[seq] & 1),
                   key=lambda pair: (-pair[0], pair[1]))
    if after:
        score, seq = after
        found = [(s, q) for s, q in found if s < score or (s == score and q > seq)]
    return found

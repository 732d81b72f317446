"""The workbench grid: records × selected columns (runs), filtered and paged in SQL.

Each column is joined through its run by primary key, so a page costs a keyset
scan over records plus index lookups, whatever the dataset's size (see selection.py).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.domain.columns import shown_preference
from workbench.domain.comparison import agreement, disagreeing_fields
from workbench.domain.judging import Suggestion
from workbench.domain.review import PYTHON, WRONG, ReviewFacts, looked_at, needs_review, verdicts_differ
from workbench.domain.review_value import MAX_VALUE, ValueFacts, decision_value, judge_state, value_reasons
from workbench.grid.corrections import CorrectedAnswers, corrected_answers
from workbench.grid.selection import SCORED_SORTS, GridQuery, Joins, parse_cursor, seq_in
from workbench.grid.value import Judged, contest_marks, ranked, ranked_among, value_marks
from workbench.store.db import Store, postgres_settings
from workbench.store.schema import RECORD_LEVEL, annotations as annotation_states, records

MAX_LIMIT = 500
FEW = ("golden", "fixed")  # filters that only annotated records pass: they are few


def grid_page(store: Store, query: GridQuery, *, cursor: str | None = None, limit: int = 50,
              judged: Judged | None = None) -> tuple[list[dict], str | None]:
    """One page of rows after ``cursor`` (record order, most contested first, or by expected value:
    value.py); returns (rows, next cursor). ``judged`` gives the judges' suggestions of records
    (seqs, or None for all): each row's ``judge``, and the value order's judge facts.

    Cursors are keyset positions ("seq", or "score:seq" when sorting by a score), so a deep
    page costs the same as the first. A cursor that isn't one raises BadPosition.
    """
    position = parse_cursor(cursor, query.sort)
    limit = max(1, min(limit, MAX_LIMIT))
    contested = query.sort == "disagreement"
    scored = query.sort in SCORED_SORTS
    within = query.within
    if within is not None and query.seqs is not None:  # rows on screen, in a drill: those of the drill
        query = dataclasses.replace(query, seqs=[seq for seq in query.seqs if _holds(within, seq)])
    rows: Sequence[Mapping[Any, Any]]
    with store.engine.connect() as conn:
        # A page is 51 rows: PostgreSQL's parallel plans for a filter over 1M records started
        # workers that each rebuilt the annotations' subplans (search + differences: 87 -> 48 ms).
        postgres_settings(conn, "max_parallel_workers_per_gather = 0")
        corrected = corrected_answers(conn, store, query)
        joins = Joins(query, store.dialect, corrected=corrected)
        columns: list[sa.ColumnElement] = [records.c.seq, records.c.record_id, records.c.title, records.c.subtitle]
        for i, res in enumerate(joins.results.values()):
            columns += [res.c.status.label(f"s{i}"), res.c.output.label(f"o{i}"), res.c.error_kind.label(f"k{i}"),
                        res.c.error_message.label(f"e{i}"), res.c.latency_ms.label(f"l{i}"),
                        res.c.verdict_key.label(f"v{i}")]
        condition = joins.condition(query.filter)
        statement = sa.select(*columns).select_from(joins.from_clause()).where(condition)
        if query.sort == "value":
            rows = _valued_rows(conn, store, query, statement, condition, joins, position, limit + 1, corrected,
                                judged)
        elif contested and query.seqs is None and query.filter not in FEW and len(query.verdict_fields) < 128:
            candidates = ranked(contest_marks(conn, store, query, corrected), len(query.verdict_fields), position)
            rows = _rows_in_order(conn, statement, _among(candidates, within), limit + 1)
        elif within is not None and query.seqs is None and not contested:  # a drill's records, in order
            after = position[0] if position else 0
            in_order = ((0, seq) for seq in within[bisect_right(within, after):])
            rows = _rows_in_order(conn, statement, in_order, limit + 1)
        elif contested:  # few rows to score (on screen, or annotated): SQL sorts them quickly
            if within is not None and query.seqs is None:
                statement = statement.where(seq_in(records.c.seq, list(within)))
            score = joins.disagreement_score()
            statement = statement.add_columns(score.label("score")).order_by(score.desc(), records.c.seq)
            if position:
                last_score, last_seq = position
                statement = statement.where(sa.or_(score < last_score, sa.and_(score == last_score,
                                                                             records.c.seq > last_seq)))
            rows = conn.execute(statement.limit(limit + 1)).mappings().all()
        else:
            statement = statement.order_by(records.c.seq)
            if position:
                statement = statement.where(records.c.seq > position[0])
            rows = conn.execute(statement.limit(limit + 1)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        seqs = [r["seq"] for r in rows]
        notes = _annotations_of(conn, query.dataset_id, seqs)
    suggested = judged(seqs) if judged is not None and seqs and len(query.run_ids) > 1 else {}
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = f"{last['score']}:{last['seq']}" if scored else str(last["seq"])
    return [_row(r, query, notes.get(r["seq"], {}), suggested.get(r["seq"], [])) for r in rows], next_cursor


def _among(candidates: Iterator[tuple[int, int]], within: Sequence[int] | None) -> Iterator[tuple[int, int]]:
    if within is None:
        return candidates
    members = set(within)
    return (candidate for candidate in candidates if candidate[1] in members)


def _valued_rows(conn: sa.Connection, store: Store, query: GridQuery, statement: sa.Select,
                 condition: sa.ColumnElement, joins: Joins, after: tuple[int, ...] | None, wanted: int,
                 corrected: CorrectedAnswers, judged: Judged | None) -> list[dict[str, Any]]:
    """The next ``wanted`` rows by expected value (value.py): the order from a score per record,
    rows read for candidates in that order until the filter has let enough through. Few records
    (on screen, or a filter only annotated records pass) are ranked among themselves."""
    marks = value_marks(conn, store, query, corrected, judged)
    if query.seqs is not None:
        return _rows_in_order(conn, statement, iter(ranked_among(marks, query.seqs, after)), wanted)
    if query.filter in FEW:
        few = conn.execute(sa.select(joins.seq).select_from(joins.from_clause()).where(condition)).scalars().all()
        return _rows_in_order(conn, statement, iter(ranked_among(marks, few, after)), wanted)
    return _rows_in_order(conn, statement, _among(ranked(marks, MAX_VALUE, after), query.within), wanted)


def _rows_in_order(conn: sa.Connection, statement: sa.Select, candidates: Iterator[tuple[int, int]],
                   wanted: int) -> list[dict[str, Any]]:
    """The rows ``statement`` lets through of the (score, seq) ``candidates``, in their order, read
    in growing batches of seqs until ``wanted`` are found."""
    rows: list[dict[str, Any]] = []
    batch_size = wanted
    while len(rows) < wanted:
        batch = list(islice(candidates, batch_size))
        if not batch:
            break
        found: dict[int, sa.RowMapping] = {}
        for i in range(0, len(batch), 1000):
            seqs = [seq for _, seq in batch[i:i + 1000]]
            found.update((r["seq"], r) for r in conn.execute(statement.where(records.c.seq.in_(seqs))).mappings())
        rows += [{**found[seq], "score": score} for score, seq in batch if seq in found]
        batch_size = min(batch_size * 4, 20_000)
    return rows[:wanted]


def _holds(ordered, seq: int) -> bool:
    at = bisect_left(ordered, seq)
    return at < len(ordered) and ordered[at] == seq


def _annotations_of(conn: sa.Connection, dataset_id: str, seqs: list[int]) -> dict[int, dict[int, Any]]:
    """seq -> run id (RECORD_LEVEL for the record) -> annotation state row, for one page."""
    if not seqs:
        return {}
    found: dict[int, dict[int, Any]] = {}
    for row in conn.execute(sa.select(annotation_states).where(annotation_states.c.dataset_id == dataset_id,
                                                         annotation_states.c.seq.in_(seqs))).mappings():
        found.setdefault(row["seq"], {})[row["run_id"]] = row
    return found


def _row(r: Any, query: GridQuery, notes: dict[int, Any], suggestions: list[Suggestion]) -> dict[str, Any]:
    models, verdict_fields = list(query.run_ids), query.verdict_fields
    cells: dict[str, dict[str, Any] | None] = {}
    originals: dict[str, dict[str, Any] | None] = {}
    fixes: dict[str, dict[str, Any]] = {}
    for i, model in enumerate(models):
        if r[f"s{i}"] is None:
            cells[model] = None
            continue
        output = orjson.loads(r[f"o{i}"]) if r[f"o{i}"] else None
        originals[model] = output if r[f"s{i}"] == "ok" else None
        note = notes.get(query.run_ids[model]) or {}
        correction = orjson.loads(note["correction"]) if note.get("correction") else None
        if correction is not None:
            fixes[model] = correction
        shown = correction if correction is not None else (output if r[f"s{i}"] == "ok" else None)
        cells[model] = {
            **(shown or {}),
            "status": r[f"s{i}"],
            "error": None if r[f"s{i}"] == "ok" else {"kind": r[f"k{i}"], "message": r[f"e{i}"]},
            "original": output if correction is not None else None,
            "latency_ms": r[f"l{i}"],
            "run_id": query.run_ids[model],
            "is_golden": bool(note.get("golden")),
            "is_fixed": correction is not None,
            "judgement": note.get("judgement"),
        }
    record_note = notes.get(RECORD_LEVEL) or {}
    # Compared as corrected: a fix replaces the model's answer (a fixed error counts as answered).
    as_corrected = {m: fixes.get(m, o) for m, o in originals.items()}
    corrected = any((notes.get(run_id) or {}).get("correction") for run_id in query.run_ids.values())
    answered: dict[str, dict[str, Any] | None] = {m: o for m, o in as_corrected.items() if o is not None}
    differing = disagreeing_fields(answered, verdict_fields)
    answer_notes = [notes[run_id] for run_id in dict.fromkeys(query.run_ids.values()) if run_id in notes]
    facts = ReviewFacts(marked_wrong=any(n["judgement"] == WRONG for n in answer_notes),
                        errored=any(c is not None and c["status"] == "error" for c in cells.values()),
                        models_differ=_answers_differ(r, query, answered, differing, corrected),
                        reviewed=looked_at(answer_notes, record_note))
    worth = ValueFacts(len(differing), facts.reviewed, judge_state(suggestions))
    picked = next((s.preferred for s in suggestions if s.consistent and s.preferred not in (None, "tie")), None)
    return {"seq": r["seq"], "record_id": r["record_id"], "title": r["title"], "subtitle": r["subtitle"],
            "models": cells, "agreement": agreement(as_corrected, verdict_fields), "disagree_fields": differing,
            "needs_review": needs_review(facts, PYTHON),
            "preference": shown_preference(record_note.get("preference"), query.run_ids),
            "note": record_note.get("note"), "reviewed": bool(record_note.get("reviewed")),
            "judge": [s.to_dict() for s in suggestions], "value": decision_value(worth),
            "value_reasons": value_reasons(worth, differing, len(answered), picked)}


def _answers_differ(r: Any, query: GridQuery, answered: dict[str, Any], differing: list[str],
                    corrected: bool) -> bool:
    """The models differ on any verdict: by the stored verdict keys when the columns' tasks share
    their verdict fields and nobody fixed an answer, else on the fields they share (as
    Joins.differences says it in SQL, and corrections.py for a fixed record)."""
    if query.comparable_keys and not corrected:
        return verdicts_differ(r[f"v{i}"] for i in range(len(query.run_ids)))
    return len(answered) > 1 and bool(differing)

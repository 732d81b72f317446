"""The workbench grid: records × selected models, filtered and paged in SQL.

Each selected model is joined through its chosen run by primary key, so a
page costs a keyset scan over records plus index lookups, whatever the
dataset's size. Filters are SQL expressions over those joins.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.domain.comparison import agreement, disagreeing_fields
from workbench.store.db import Store
from workbench.store.schema import annotations, records, results

FILTERS = ("all", "differences", "golden", "needs_review", "fixed", "unreviewed")
SORTS = ("record", "disagreement")
MAX_LIMIT = 500


@dataclass
class GridQuery:
    dataset_id: str
    run_ids: dict[str, int]  # model id -> run shown for it
    verdict_fields: list[str]
    filter: str = "all"
    q: str | None = None
    seqs: list[int] | None = None  # only these records (live refresh of rows on screen)
    diff_field: str | None = None  # "differences" on this verdict field only
    verdicts: list[tuple[str, str, str]] | None = None  # (model, field, value): e.g. olmo says "No"
    sort: str = "record"


def json_text(column, key: str, dialect: str):
    """A top-level string field of a JSON text column, in SQL, on either backend."""
    if not key.replace("_", "").isalnum():
        raise ValueError(f"unsupported field name {key!r}")
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.cast(column, JSONB)[key].astext
    return sa.func.json_extract(column, f"$.{key}")


class Joins:
    """Records joined to each selected model's result; annotations enter filters as subqueries
    (they are few) and a page's annotations are read separately for its rows."""

    def __init__(self, query: GridQuery, dialect: str):
        self.query = query
        self.dialect = dialect
        self.results = {m: results.alias(f"res{i}") for i, m in enumerate(query.run_ids)}

    def from_clause(self):
        joined = records
        for model, res in self.results.items():
            joined = joined.outerjoin(res, sa.and_(res.c.run_id == self.query.run_ids[model],
                                                   res.c.seq == records.c.seq))
        return joined

    def _annotated(self, *conditions, record_level=None):
        """records.seq is among the records with a matching annotation on a selected model."""
        models = list(self.query.run_ids)
        on_answers = sa.and_(annotations.c.model_id.in_(models), sa.or_(*conditions)) if models else sa.false()
        matching = on_answers if record_level is None else sa.or_(
            on_answers, sa.and_(annotations.c.model_id == "", record_level))
        seqs = sa.select(annotations.c.seq).where(annotations.c.dataset_id == self.query.dataset_id, matching)
        return records.c.seq.in_(seqs)

    def differences(self, field: str | None = None):
        if field is None:
            pairs = [
                sa.and_(a.c.verdict_key.is_not(None), b.c.verdict_key.is_not(None), a.c.verdict_key != b.c.verdict_key)
                for a, b in combinations(self.results.values(), 2)
            ]
        else:
            pairs = [
                sa.and_(a.c.verdict_key.is_not(None), b.c.verdict_key.is_not(None),
                        json_text(a.c.output, field, self.dialect) != json_text(b.c.output, field, self.dialect))
                for a, b in combinations(self.results.values(), 2)
            ]
        return sa.or_(*pairs) if pairs else sa.false()

    def disagreement_score(self):
        """How contested a record is: the number of verdict fields on which models differ."""
        fields = self.query.verdict_fields
        if len(self.results) < 2 or not fields:
            return sa.literal(0)
        return sum(sa.case((self.differences(f), 1), else_=0) for f in fields)

    def golden(self):
        return self._annotated(annotations.c.golden == 1)

    def fixed(self):
        return self._annotated(annotations.c.correction.is_not(None))

    def reviewed(self):
        return self._annotated(annotations.c.golden == 1, annotations.c.judgement.is_not(None),
                               annotations.c.correction.is_not(None),
                               record_level=sa.or_(annotations.c.preference.is_not(None),
                                                   annotations.c.note.is_not(None)))

    def needs_review(self):
        # Outer joins give NULLs; coalesce so NOT never meets a NULL and drops rows silently.
        errored = [sa.func.coalesce(r.c.status, "") == "error" for r in self.results.values()]
        return sa.or_(self._annotated(annotations.c.judgement == "wrong"), *errored,
                      sa.and_(self.differences(), sa.not_(self.reviewed())))

    def condition(self, name: str):
        dialect = self.dialect
        conditions = [records.c.dataset_id == self.query.dataset_id]
        if name == "differences":
            conditions.append(self.differences(self.query.diff_field))
        elif name == "golden":
            conditions.append(self.golden())
        elif name == "needs_review":
            conditions.append(self.needs_review())
        elif name == "fixed":
            conditions.append(self.fixed())
        elif name == "unreviewed":
            conditions.append(sa.not_(self.reviewed()))
        elif name != "all":
            raise ValueError(f"filter must be one of {', '.join(FILTERS)}")
        for model, field, value in self.query.verdicts or []:
            res = self.results.get(model)
            if res is None:
                raise ValueError(f"model {model!r} is not selected")
            conditions.append(sa.and_(res.c.status == "ok", json_text(res.c.output, field, dialect) == value))
        if self.query.q:
            pattern = "%" + self.query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            # SQLite's LIKE ignores ASCII case already; PostgreSQL needs ILIKE.
            like = (lambda col: col.ilike(pattern, escape="\\")) if dialect == "postgresql" else \
                (lambda col: col.like(pattern, escape="\\"))
            conditions.append(sa.or_(like(records.c.title), like(records.c.subtitle), like(records.c.data)))
        if self.query.seqs is not None:
            conditions.append(records.c.seq.in_(self.query.seqs))
        return sa.and_(*conditions)


def grid_page(store: Store, query: GridQuery, *, cursor: str | None = None,
              limit: int = 50) -> tuple[list[dict], str | None]:
    """One page of rows after ``cursor`` (record order, or most contested first); returns (rows, next cursor).

    Cursors are keyset positions ("seq", or "score:seq" when sorting by disagreement), so a deep
    page costs the same as the first.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    joins = Joins(query, store.dialect)
    columns = [records.c.seq, records.c.record_id, records.c.title, records.c.subtitle]
    for i, res in enumerate(joins.results.values()):
        columns += [res.c.status.label(f"s{i}"), res.c.output.label(f"o{i}"), res.c.error_kind.label(f"k{i}"),
                    res.c.error_message.label(f"e{i}"), res.c.latency_ms.label(f"l{i}")]
    statement = sa.select(*columns).select_from(joins.from_clause()).where(joins.condition(query.filter))
    if query.sort == "disagreement":
        score = joins.disagreement_score()
        statement = statement.add_columns(score.label("score")).order_by(score.desc(), records.c.seq)
        if cursor:
            last_score, last_seq = (int(x) for x in cursor.split(":"))
            statement = statement.where(sa.or_(score < last_score, sa.and_(score == last_score,
                                                                         records.c.seq > last_seq)))
    else:
        statement = statement.order_by(records.c.seq)
        if cursor:
            statement = statement.where(records.c.seq > int(cursor))
    with store.engine.connect() as conn:
        rows = conn.execute(statement.limit(limit + 1)).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        notes = _annotations_of(conn, query.dataset_id, [r["seq"] for r in rows])
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = f"{last['score']}:{last['seq']}" if query.sort == "disagreement" else str(last["seq"])
    models = list(query.run_ids)
    return [_row(r, models, query.verdict_fields, notes.get(r["seq"], {})) for r in rows], next_cursor


def _annotations_of(conn: sa.Connection, dataset_id: str, seqs: list[int]) -> dict[int, dict[str, Any]]:
    """seq -> model id ('' for the record) -> annotation state row, for one page."""
    if not seqs:
        return {}
    found: dict[int, dict[str, Any]] = {}
    for row in conn.execute(sa.select(annotations).where(annotations.c.dataset_id == dataset_id,
                                                         annotations.c.seq.in_(seqs))).mappings():
        found.setdefault(row["seq"], {})[row["model_id"]] = row
    return found


def _row(r: Any, models: list[str], verdict_fields: list[str], notes: dict[str, Any]) -> dict[str, Any]:
    cells: dict[str, dict[str, Any] | None] = {}
    originals: dict[str, dict[str, Any] | None] = {}
    for i, model in enumerate(models):
        if r[f"s{i}"] is None:
            cells[model] = None
            continue
        output = orjson.loads(r[f"o{i}"]) if r[f"o{i}"] else None
        originals[model] = output if r[f"s{i}"] == "ok" else None
        note = notes.get(model) or {}
        correction = orjson.loads(note["correction"]) if note.get("correction") else None
        shown = correction if correction is not None else (output if r[f"s{i}"] == "ok" else None)
        cells[model] = {
            **(shown or {}),
            "status": r[f"s{i}"],
            "error": None if r[f"s{i}"] == "ok" else {"kind": r[f"k{i}"], "message": r[f"e{i}"]},
            "original": output if correction is not None else None,
            "latency_ms": r[f"l{i}"],
            "is_golden": bool(note.get("golden")),
            "is_fixed": correction is not None,
            "judgement": note.get("judgement"),
        }
    record_note = notes.get("") or {}
    answered = {m: o for m, o in originals.items() if o is not None}
    differing = disagreeing_fields(answered, verdict_fields)
    present = [c for c in cells.values() if c is not None]
    reviewed = record_note.get("preference") is not None or record_note.get("note") is not None or any(
        c["is_golden"] or c["judgement"] or c["is_fixed"] for c in present)
    needs_review = any(c["judgement"] == "wrong" or c["status"] == "error" for c in present) or (
        bool(differing) and not reviewed)
    return {"seq": r["seq"], "candidate_id": r["record_id"], "candidate_name": r["title"],
            "candidate_title": r["subtitle"], "models": cells, "agreement": agreement(originals, verdict_fields),
            "disagree_fields": differing, "needs_review": needs_review,
            "preference": record_note.get("preference"), "note": record_note.get("note")}

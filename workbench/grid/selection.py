"""A selection of the grid in SQL: a dataset's records × the chosen run of each selected model,
with the filters as expressions over those joins (each join is a primary-key lookup)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from itertools import combinations

import sqlalchemy as sa

from workbench.domain.errors import InvalidInput
from workbench.domain.json_rules import INT64_MAX
from workbench.domain.review import (ANSWER_REVIEW_MARKS, FLAG_MARKS, RECORD_REVIEW_MARKS, WRONG, Logic,
                                     ReviewFacts, needs_review)
from workbench.store.schema import RECORD_LEVEL, annotations as annotation_states, records, results

if TYPE_CHECKING:
    from workbench.grid.corrections import CorrectedAnswers

FILTERS = ("all", "differences", "golden", "needs_review", "fixed", "unreviewed")
SORTS = ("record", "disagreement", "value")
SCORED_SORTS = ("disagreement", "value")  # their cursors are "score:seq"
MAX_SEQS = 500  # rows refreshed at once (the page asks for those on screen)
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,19}")  # ASCII only: str.isdigit() also takes "²", int() takes "١"


class BadPosition(InvalidInput):
    """A cursor, seq or number in a query that no page could have handed out."""


def parse_int64(text: str, what: str = "this") -> int:
    """``text`` as a whole number in ASCII digits within 64 bits (no spaces, "+", "_" or "5.0"), or BadPosition."""
    if _WHOLE_NUMBER.fullmatch(text) is None or not -INT64_MAX - 1 <= (number := int(text)) <= INT64_MAX:
        raise BadPosition(f"{what} must be a whole number of at most 19 ASCII digits, not {_shown(text)}")
    return number


def parse_cursor(cursor: str | None, sort: str) -> tuple[int, ...] | None:
    """A page's next_cursor: "seq" in record order, "score:seq" by a score (disagreement, value); None
    for the first page."""
    if cursor is None or cursor == "":
        return None
    parts = cursor.split(":")
    wanted = 2 if sort in SCORED_SORTS else 1
    problem = BadPosition(f"cursor {_shown(cursor)} is not a next_cursor of a page sorted by {sort}")
    if len(parts) != wanted:
        raise problem
    try:
        position = tuple(parse_int64(part) for part in parts)
    except BadPosition:
        raise problem from None
    if any(n < 0 for n in position):
        raise problem
    return position


def parse_seqs(text: str | None) -> list[int] | None:
    """ "3,17,42": the records to refresh (at most MAX_SEQS; empty entries skipped); None for all."""
    if not text:
        return None
    seqs = [parse_int64(part.strip(), "each of seqs") for part in text.split(",") if part.strip()]
    if len(seqs) > MAX_SEQS:
        raise BadPosition(f"seqs lists {len(seqs)} records; at most {MAX_SEQS} at once")
    return seqs


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")


@dataclass
class GridQuery:
    dataset_id: str
    run_ids: dict[str, int]  # column id (a model id or run:ID) -> the run shown in it
    verdict_fields: list[str]  # those the columns' tasks share
    filter: str = "all"
    q: str | None = None
    seqs: list[int] | None = None  # only these records (live refresh of rows on screen)
    diff_field: str | None = None  # "differences" on this verdict field only
    verdicts: list[tuple[str, str, str]] | None = None  # (model, field, value): e.g. olmo says "No"
    sort: str = "record"
    # The columns' tasks have the same verdict fields, so their results' verdict keys compare;
    # else differences are asked field by field, over the shared fields.
    comparable_keys: bool = True
    # Only these records, ascending (a drill-down from a Metrics figure, drill.py): rows are read
    # for them in batches and counts counted among them, never as one long SQL list.
    within: Sequence[int] | None = None
    # Every verdict value the columns' tasks allow is a non-empty string: then a result's verdict
    # on one field is that part of its verdict key, read without parsing its output's JSON.
    text_verdicts: bool = False


def json_text(column, key: str, dialect: str):
    """A top-level string field of a JSON text column, in SQL, on either backend. Any key: a task's
    fields are named by its author ("a.b", "=x", 'say "hi"')."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.cast(column, JSONB)[key].astext
    if key.isascii() and key.replace("_", "").isalnum():
        return sa.func.json_extract(column, f"$.{key}")
    if '"' not in key:
        return sa.func.json_extract(column, f'$."{key}"')
    # SQLite's JSON paths can't name a key holding a double quote; json_each can.
    each = sa.func.json_each(column).table_valued("key", "value")
    return sa.select(each.c.value).where(each.c.key == key).scalar_subquery()


# The review rules' logic in SQL (domain/review.py).
SQL: Logic[sa.ColumnElement[bool]] = Logic(sa.or_, sa.and_, sa.not_)


def marked(mark: str) -> sa.ColumnElement[bool]:
    """The annotation field ``mark`` holds something (Python: domain/review.is_set)."""
    column = annotation_states.c[mark]
    return column == 1 if mark in FLAG_MARKS else column.is_not(None)


ANSWER_REVIEWED = sa.or_(*(marked(m) for m in ANSWER_REVIEW_MARKS))
RECORD_REVIEWED = sa.or_(*(marked(m) for m in RECORD_REVIEW_MARKS))
MARKED_WRONG = annotation_states.c.judgement == WRONG


_INLINE_SEQS = 500  # longer lists are written into the SQL as numbers: no limit on bound parameters


def seq_in(column, seqs: list[int]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``seqs`` (whole numbers only: long lists are rendered as literals,
    as SQLite and PostgreSQL cap the parameters of one statement)."""
    if not seqs:
        return sa.false()
    if len(seqs) <= _INLINE_SEQS:
        return column.in_(seqs)
    # Joined here rather than by SQLAlchemy's literal rendering, which cost ~2 µs a number: 10 ms a
    # page at 1M records with 5,000 corrected answers. int() keeps the text numbers only.
    return column.op("IN")(sa.literal_column("(" + ",".join(map(str, map(int, seqs))) + ")"))


def search_condition(q: str, dialect: str) -> sa.ColumnElement[bool]:
    """A record's title, subtitle or data holds ``q`` (ignoring ASCII case)."""
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # SQLite's LIKE ignores ASCII case already; PostgreSQL needs ILIKE.
    like = (lambda col: col.ilike(pattern, escape="\\")) if dialect == "postgresql" else \
        (lambda col: col.like(pattern, escape="\\"))
    return sa.or_(like(records.c.title), like(records.c.subtitle), like(records.c.data))


class Joins:
    """Records joined to each selected model's result; annotations enter filters as subqueries
    (they are few) and a page's annotations are read separately for its rows.

    With ``driver`` (a selected model whose run has a result for every record, and no search),
    that run's results stand in for the records: one lookup fewer per record in a scan.

    With ``corrected`` (corrections.corrected_answers), the records a person fixed are compared on
    their answers as corrected, decided in Python and said here as a list of seqs; all the others
    keep the verdict-key comparison. Without it (the marks), the models' answers are compared."""

    def __init__(self, query: GridQuery, dialect: str, driver: str | None = None,
                 corrected: CorrectedAnswers | None = None):
        if driver is not None and (query.q or driver not in query.run_ids):
            raise ValueError("a driving run needs no search and a selected model")
        self.query = query
        self.dialect = dialect
        self.driver = driver
        self.corrected = corrected
        self.results = {m: results.alias(f"res{i}") for i, m in enumerate(query.run_ids)}
        self.seq = records.c.seq if driver is None else self.results[driver].c.seq

    def from_clause(self, seqs: tuple[int, int] | None = None):
        """With ``seqs`` (first, last), only that range, said to every table: PostgreSQL then reads
        each run's results as a range of its primary key rather than whole."""
        joined: sa.FromClause = records if self.driver is None else self.results[self.driver]
        for model, res in self.results.items():
            if model == self.driver:
                continue
            on = [res.c.run_id == self.query.run_ids[model], res.c.seq == self.seq]
            if seqs is not None:
                on.append(res.c.seq.between(*seqs))
            joined = joined.outerjoin(res, sa.and_(*on))
        return joined

    def in_dataset(self):
        """The rows of the selection's dataset (and, driven by a run, of that run)."""
        if self.driver is None:
            return records.c.dataset_id == self.query.dataset_id
        return self.results[self.driver].c.run_id == self.query.run_ids[self.driver]

    def _annotated(self, *conditions, record_level=None):
        """records.seq is among the records with a matching annotation on a selected column's answer."""
        run_ids = sorted(set(self.query.run_ids.values()))
        on_answers = sa.and_(annotation_states.c.run_id.in_(run_ids), sa.or_(*conditions)) if run_ids else sa.false()
        matching = on_answers if record_level is None else sa.or_(
            on_answers, sa.and_(annotation_states.c.run_id == RECORD_LEVEL, record_level))
        in_dataset = annotation_states.c.dataset_id == self.query.dataset_id
        seqs = sa.select(annotation_states.c.seq).where(in_dataset, matching)
        return self.seq.in_(seqs)

    def differences(self, field: str | None = None):
        """The selected models' answers differ (on ``field``, or on any verdict field)."""
        answers_differ = self._answers_differ(field)
        if not self.corrected:
            return answers_differ
        still_differ = self.corrected.differing(self.query.verdict_fields if field is None else [field])
        return sa.or_(sa.and_(sa.not_(self.fixed()), answers_differ), seq_in(self.seq, still_differ))

    def _answers_differ(self, field: str | None = None):
        if field is None and not self.query.comparable_keys:
            each = [self._answers_differ(f) for f in self.query.verdict_fields]
            return sa.or_(*each) if each else sa.false()
        if field is None:
            pairs = [
                sa.and_(a.c.verdict_key.is_not(None), b.c.verdict_key.is_not(None), a.c.verdict_key != b.c.verdict_key)
                for a, b in combinations(self.results.values(), 2)
            ]
        else:
            verdict = {m: self.verdict(res, field) for m, res in self.results.items()}
            pairs = [
                sa.and_(self.results[a].c.verdict_key.is_not(None), self.results[b].c.verdict_key.is_not(None),
                        verdict[a] != verdict[b])
                for a, b in combinations(self.results, 2)
            ]
        return sa.or_(*pairs) if pairs else sa.false()

    def verdict(self, res, field: str) -> sa.ColumnElement:
        """A result's verdict on ``field``: the part of its verdict key, when the key says it exactly
        (string verdicts, keys of the same fields, and none of its values holding the separator),
        else from the output's JSON. Parsing the JSON was most of a contested scan on PostgreSQL."""
        fields = self.query.verdict_fields
        from_json = json_text(res.c.output, field, self.dialect)
        # Not on SQLite: its json_extract is quicker than substr/instr with the separator check (1M x 3,
        # 20K-record pieces of the contested scan: 434 ms from the JSON, 2,576 from the keys, medians of 5).
        if self.dialect != "postgresql" or not (self.query.text_verdicts and self.query.comparable_keys) \
                or field not in fields:
            return from_json
        key, separator = res.c.verdict_key, sa.func.chr(31)
        separators = sa.func.length(key) - sa.func.length(sa.func.replace(key, separator, ""))
        part = sa.func.split_part(key, separator, fields.index(field) + 1)
        # A missing field is "" in the key and NULL in the JSON (no allowed value is ""): NULL here too.
        return sa.case((separators == len(fields) - 1, sa.func.nullif(part, "")), else_=from_json)

    def disagreement_score(self):
        """How contested a record is: the number of verdict fields on which models differ."""
        fields = self.query.verdict_fields
        if len(self.results) < 2 or not fields:
            return sa.literal(0)
        return sum(sa.case((self.differences(f), 1), else_=0) for f in fields)

    def golden(self):
        return self._annotated(marked("golden"))

    def fixed(self):
        return self._annotated(marked("correction"))

    def reviewed(self):
        return self._annotated(ANSWER_REVIEWED, record_level=RECORD_REVIEWED)

    def errored(self):
        # Outer joins give NULLs; coalesce so NOT never meets a NULL and drops rows silently.
        return sa.or_(sa.false(), *[sa.func.coalesce(r.c.status, "") == "error" for r in self.results.values()])

    def needs_review(self):
        return needs_review(ReviewFacts(marked_wrong=self._annotated(MARKED_WRONG), errored=self.errored(),
                                        models_differ=self.differences(), reviewed=self.reviewed()), SQL)

    def condition(self, name: str):
        dialect = self.dialect
        conditions = [self.in_dataset()]
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
            conditions.append(search_condition(self.query.q, dialect))
        if self.query.seqs is not None:
            conditions.append(self.seq.in_(self.query.seqs))
        return sa.and_(*conditions)



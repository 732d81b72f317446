"""Records joined with each selected column's (run's) result: the shape exports, comparisons and the grid read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.store.db import Store
from workbench.store.schema import records, results, runs


@dataclass(frozen=True)
class RecordResults:
    seq: int
    record_id: str
    title: str
    subtitle: str
    data: dict[str, Any] | None
    results: dict[str, dict[str, Any] | None]  # column id -> result row (output parsed, run_id, model_id) or None

    def outputs(self) -> dict[str, dict[str, Any] | None]:
        """Column id -> valid output, or None where the column has no valid answer."""
        return {m: (r["output"] if r and r["status"] == "ok" else None) for m, r in self.results.items()}


_RESULT_COLUMNS = ("status", "output", "error_kind", "error_message", "raw_text", "latency_ms", "tokens_in",
                   "tokens_out", "attempts", "cached")


def iter_record_results(store: Store, dataset_id: str, run_ids: dict[str, int], *, with_data: bool = True,
                        batch: int = 1000, seqs: list[int] | None = None) -> Iterator[RecordResults]:
    """Every record (or just ``seqs``) in file order with each column's result (``run_ids``: column
    id -> run), in keyset pages."""
    if seqs is not None:
        ordered = sorted(seqs)
        for start in range(0, len(ordered), batch):
            chunk = ordered[start:start + batch]
            yield from _iter_pages(store, dataset_id, run_ids, with_data, batch, records.c.seq.in_(chunk))
        return
    yield from _iter_pages(store, dataset_id, run_ids, with_data, batch, None)


def _iter_pages(store: Store, dataset_id: str, run_ids: dict[str, int], with_data: bool, batch: int,
                extra) -> Iterator[RecordResults]:
    layout = []  # (column id, run id, its model, position of the column's first result field in a row)
    start = 5 if with_data else 4
    model_of = _models_of(store, list(run_ids.values()))
    for column, run_id in run_ids.items():
        layout.append((column, run_id, model_of.get(run_id, column), start))
        start += len(_RESULT_COLUMNS)
    width = len(_RESULT_COLUMNS)
    loads = orjson.loads
    for rows in _pages(store, dataset_id, run_ids, with_data, batch, extra):
        for row in rows:
            per_model: dict[str, dict[str, Any] | None] = {}
            for model, run_id, model_id, start in layout:
                if row[start] is None:  # status is never NULL: no result row for this model
                    per_model[model] = None
                    continue
                result = dict(zip(_RESULT_COLUMNS, row[start:start + width], strict=True))
                output = result["output"]
                result["output"] = loads(output) if output else None
                result["run_id"] = run_id
                result["model_id"] = model_id
                per_model[model] = result
            yield RecordResults(row[0], row[1], row[2], row[3], loads(row[4]) if with_data else None, per_model)


# The long exports' result columns: no raw_text (CSV and Parquet don't write it).
LONG_COLUMNS = ("status", "output", "error_kind", "error_message", "latency_ms", "tokens_in", "tokens_out",
                "attempts", "cached")


def iter_long_results(store: Store, dataset_id: str, run_ids: dict[str, int], *,
                      batch: int = 2000) -> Iterator[tuple]:
    """One plain tuple per record × column with a result, in file then column order: record_id,
    title, subtitle, column id, run id, model id, then LONG_COLUMNS with output as its JSON text.
    The long exports' shape, without a dict per result (at 1M × 3 those were a fifth of an export)."""
    model_of = _models_of(store, list(run_ids.values()))
    width = len(LONG_COLUMNS)
    layout = [((column, run_id, model_of.get(run_id, column)), 3 + i * width)
              for i, (column, run_id) in enumerate(run_ids.items())]
    for rows in _pages(store, dataset_id, run_ids, False, batch, None, LONG_COLUMNS, with_seq=False):
        for row in rows:
            head = row[:3]
            for names, start in layout:
                if row[start] is not None:  # status is never NULL: else no result for this column
                    yield head + names + row[start:start + width]


def _models_of(store: Store, run_ids: list[int]) -> dict[int, str]:
    if not run_ids:
        return {}
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(runs.c.id, runs.c.model_id).where(runs.c.id.in_(run_ids))).all())


def _pages(store: Store, dataset_id: str, run_ids: dict[str, int], with_data: bool, batch: int,
           extra, result_columns: Sequence[str] = _RESULT_COLUMNS, *,
           with_seq: bool = True) -> Iterator[Sequence[tuple]]:
    """Keyset pages of rows as plain tuples: [seq], record_id, title, subtitle, [data], then each model's
    ``result_columns`` in ``run_ids`` order (NULLs where it has no result).

    A page is first bounded (its last seq, from the records index alone), then read as a seq range on
    every table: PostgreSQL then reads each run's results as one range of its primary key and merges,
    instead of looking a result up per record (half the server time of a LIMIT over the join)."""
    lo, hi = sa.bindparam("lo", type_=sa.Integer), sa.bindparam("hi", type_=sa.Integer)
    columns = [records.c.seq] if with_seq else []
    columns += [records.c.record_id, records.c.title, records.c.subtitle]
    if with_data:
        columns.append(records.c.data)
    joined: sa.FromClause = records
    for i, run_id in enumerate(run_ids.values()):
        alias = results.alias(f"r{i}")
        columns += [alias.c[c] for c in result_columns]
        joined = joined.outerjoin(alias, sa.and_(alias.c.run_id == run_id, alias.c.seq == records.c.seq,
                                                 alias.c.seq > lo, alias.c.seq <= hi))
    wanted = [records.c.dataset_id == dataset_id] + ([extra] if extra is not None else [])
    page = (sa.select(records.c.seq).where(*wanted, records.c.seq > lo)
            .order_by(records.c.seq).limit(batch).subquery())
    last_seq = sa.select(sa.func.max(page.c.seq))
    query = (sa.select(*columns).select_from(joined)
             .where(*wanted, records.c.seq > lo, records.c.seq <= hi).order_by(records.c.seq))
    after = 0
    while True:
        with store.engine.connect() as conn:
            upper = conn.execute(last_seq, {"lo": after}).scalar()
            if upper is None:
                return
            rows = conn.execute(query, {"lo": after, "hi": upper}).all()
        yield rows
        after = upper

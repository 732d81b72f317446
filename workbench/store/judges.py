"""Judge runs: two runs (kind 'judge') of one judge model per judged pair of runs, one per order.

Their options say what they judge: ``{"judge": {"columns": [run_a, run_b], "order": "ab"|"ba",
"partner": <the other order's run>, "rubric": "..."}}``. A judge run asks only about the records
both judged runs answered (status ok) with different verdicts (``results.verdict_key``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.domain.judging import ORDERS, judge_input
from workbench.domain.models import ModelConfig
from workbench.domain.progress import TERMINAL_STATES
from workbench.store.db import Store, write_transaction
from workbench.store.results import PendingRecord
from workbench.store.runs import RunInfo, insert_run
from workbench.store.schema import records, results, runs

JUDGE = "judge"  # runs.kind


@dataclass(frozen=True)
class JudgePair:
    """A judge: its run per order (the first order's run id is the judge's id) and what it judges."""

    ab: RunInfo
    ba: RunInfo | None  # None only if the partner run was deleted

    @property
    def id(self) -> int:
        return self.ab.id

    @property
    def columns(self) -> tuple[int, int]:
        a, b = judged_runs(self.ab)
        return a, b

    @property
    def rubric(self) -> str:
        return str(self.ab.options.get("judge", {}).get("rubric", ""))


def judge_options(run: RunInfo) -> dict[str, Any]:
    spec = run.options.get("judge")
    return spec if isinstance(spec, dict) else {}


def judged_runs(run: RunInfo) -> tuple[int, int]:
    """The two runs a judge run judges, as the judge names them (a, b), whatever its order."""
    a, b = judge_options(run)["columns"]
    return int(a), int(b)


def shown_order(run: RunInfo) -> tuple[int, int]:
    """The runs whose answers a judge run shows as Answer 1 and Answer 2."""
    a, b = judged_runs(run)
    return (b, a) if judge_options(run).get("order") == "ba" else (a, b)


def _disagreements(first: int, second: int):
    """(records ⋈ both runs' ok results with different verdicts) as a FROM clause, and those results."""
    ra, rb = results.alias("judged_a"), results.alias("judged_b")
    joined = records.join(ra, sa.and_(ra.c.seq == records.c.seq, ra.c.run_id == first, ra.c.status == "ok")) \
        .join(rb, sa.and_(rb.c.seq == records.c.seq, rb.c.run_id == second, rb.c.status == "ok"))
    return joined, ra, rb, ra.c.verdict_key != rb.c.verdict_key


def count_disagreements(conn: sa.Connection, dataset_id: str, a: int, b: int) -> int:
    joined, _, _, differ = _disagreements(a, b)
    return conn.execute(sa.select(sa.func.count()).select_from(joined)
                        .where(records.c.dataset_id == dataset_id, differ)).scalar_one()


def refresh_total(store: Store, run: RunInfo) -> int:
    """A judge run's total as its two runs stand now (they may have gone on since it was created)."""
    a, b = judged_runs(run)
    with write_transaction(store) as conn:
        total = count_disagreements(conn, run.dataset_id, a, b)
        conn.execute(runs.update().where(runs.c.id == run.id).values(total=total))
    return total


def create_judge(store: Store, *, dataset_id: str, model: ModelConfig, task_name: str, task_version: int,
                 columns: tuple[int, int], rubric: str, options: dict[str, Any]) -> tuple[int, int]:
    """Both runs of a judge, queued, in one transaction; returns (ab run id, ba run id). An unfinished
    judge of the same columns by the same model and task version continues instead, as a start of
    ``workbench run`` continues a run."""
    a, b = columns
    with write_transaction(store, f"judge-start:{dataset_id}") as conn:
        existing = _unfinished(conn, dataset_id, model.id, task_name, task_version, columns)
        if existing is not None:
            return existing
        total = count_disagreements(conn, dataset_id, a, b)

        def spec(order: str, partner: int | None) -> dict[str, Any]:
            return options | {"judge": {"columns": [a, b], "order": order, "partner": partner, "rubric": rubric}}

        ab, ba = (insert_run(conn, dataset_id=dataset_id, model=model, task_name=task_name,
                             task_version=task_version, total=total, options=spec(order, None), kind=JUDGE)
                  for order in ORDERS)
        for run_id, partner, order in ((ab, ba, "ab"), (ba, ab, "ba")):
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                options=orjson.dumps(spec(order, partner)).decode()))
    return ab, ba


def _unfinished(conn: sa.Connection, dataset_id: str, model_id: str, task_name: str, task_version: int,
                columns: tuple[int, int]) -> tuple[int, int] | None:
    query = sa.select(runs).where(runs.c.dataset_id == dataset_id, runs.c.kind == JUDGE,
                                  runs.c.model_id == model_id, runs.c.task_name == task_name,
                                  runs.c.task_version == task_version).order_by(runs.c.id.desc())
    found = {run.id: run for run in (RunInfo.from_row(row) for row in conn.execute(query))}
    for run in found.values():
        spec = judge_options(run)
        partner = found.get(spec.get("partner"))  # type: ignore[arg-type]
        if spec.get("order") != "ab" or partner is None or judged_runs(run) != columns:
            continue
        if run.status not in TERMINAL_STATES or partner.status not in TERMINAL_STATES:
            return run.id, partner.id
    return None


def list_judges(store: Store, dataset_id: str) -> list[JudgePair]:
    """The dataset's judges, oldest first."""
    query = sa.select(runs).where(runs.c.dataset_id == dataset_id, runs.c.kind == JUDGE).order_by(runs.c.id)
    with store.engine.connect() as conn:
        found = [RunInfo.from_row(row) for row in conn.execute(query)]
    by_id = {run.id: run for run in found}
    pairs = []
    for run in found:
        spec = judge_options(run)
        if spec.get("order") == "ab":
            partner = spec.get("partner")
            pairs.append(JudgePair(run, by_id.get(partner) if isinstance(partner, int) else None))
    return pairs


def pending_judgements(store: Store, run: RunInfo, *, after_seq: int, limit: int) -> list[PendingRecord]:
    """The next records (by seq) this judge run has still to ask about: both judged runs answered, with
    different verdicts, and no result here yet; each as the judge's input (the record and both answers
    in this run's order). A keyset page, like ``results.pending_records``."""
    first, second = shown_order(run)
    joined, ra, rb, differ = _disagreements(first, second)
    done = sa.exists().where(results.c.run_id == run.id, results.c.seq == records.c.seq)
    query = (sa.select(records.c.seq, records.c.record_id, records.c.data, ra.c.output.label("first"),
                       rb.c.output.label("second"))
             .select_from(joined)
             .where(records.c.dataset_id == run.dataset_id, records.c.seq > after_seq, differ, ~done)
             .order_by(records.c.seq).limit(limit))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [PendingRecord(r.seq, r.record_id, judge_input(orjson.loads(r.data), _loads(r.first), _loads(r.second)))
            for r in rows]


def judged_record(store: Store, run: RunInfo, seq: int) -> dict[str, Any] | None:
    """What a judge run showed (or would show) about one record: the record and both answers in its
    order, as ``pending_judgements`` gives them (a trace renders the messages sent from it); None
    when the two runs have not both answered it."""
    first, second = shown_order(run)
    joined, ra, rb, _ = _disagreements(first, second)
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(records.c.data, ra.c.output.label("first"), rb.c.output.label("second"))
                           .select_from(joined)
                           .where(records.c.dataset_id == run.dataset_id, records.c.seq == seq)).first()
    return None if row is None else judge_input(orjson.loads(row.data), _loads(row.first), _loads(row.second))


def _loads(text: str | None) -> dict[str, Any]:
    value = orjson.loads(text) if text else {}
    return value if isinstance(value, dict) else {"answer": value}


@dataclass(frozen=True)
class Verdict:
    run_id: int
    seq: int
    better: str | None  # "first" / "second" / "tie"; None: an error
    reason: str | None


def verdicts(store: Store, run_ids: Iterable[int], seqs: list[int] | None = None) -> list[Verdict]:
    """The judge runs' verdicts (every result: an error is a verdict of None), for these records (None: all)."""
    run_ids = sorted(set(run_ids))
    if not run_ids:
        return []
    query = sa.select(results.c.run_id, results.c.seq, results.c.status, results.c.primary_verdict,
                      results.c.output).where(results.c.run_id.in_(run_ids))
    if seqs is not None:
        if not seqs:
            return []
        query = query.where(results.c.seq.in_(sorted(set(seqs))))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in rows:
        ok = r.status == "ok"
        output = orjson.loads(r.output) if ok and r.output else {}
        reason = output.get("reason") if isinstance(output, dict) else None
        out.append(Verdict(r.run_id, r.seq, r.primary_verdict if ok else None,
                           reason if isinstance(reason, str) else None))
    return out

"""The answers as corrected, for the few records a person fixed: the grid's disagreement follows them.

A record with no correction on a selected column's run is compared by its stored verdict keys, in
SQL and in the per-record marks (marks.py), which never look at annotations. A record with one is
compared here, in Python, on each column's answer as corrected (a correction replaces the model's
answer; a fixed error counts as answered), by ``domain.comparison.disagreeing_fields`` — the same
function a row's ``disagree_fields`` comes from. Rows, filters, counts and the contested order
all take these records' disagreement from here, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import sqlalchemy as sa

from workbench.domain.comparison import Outputs, disagreeing_fields
from workbench.store.schema import annotations as annotation_states, results

_BATCH = 1000


def corrected_answers(conn: sa.Connection, dataset_id: str, run_ids: dict[str, int]) -> dict[int, Outputs]:
    """seq -> column -> its answer as corrected (None: no valid answer), for the records with a
    correction on a selected column's run: an index range of the dataset's annotations, then
    primary-key lookups of those records' results."""
    selected = sorted(set(run_ids.values()))
    if not selected:
        return {}
    fixes: dict[int, dict[int, dict]] = {}
    for seq, run_id, correction in conn.execute(
            sa.select(annotation_states.c.seq, annotation_states.c.run_id, annotation_states.c.correction)
            .where(annotation_states.c.dataset_id == dataset_id, annotation_states.c.run_id.in_(selected),
                   annotation_states.c.correction.is_not(None))):
        fixes.setdefault(seq, {})[run_id] = orjson.loads(correction)
    if not fixes:
        return {}
    # An answer with no result row (an error removed to be retried) is no answer, fixed or not, as on a row.
    answers: dict[tuple[int, int], dict | None] = {}
    seqs = sorted(fixes)
    for i in range(0, len(seqs), _BATCH):
        for run_id, seq, status, output in conn.execute(
                sa.select(results.c.run_id, results.c.seq, results.c.status, results.c.output)
                .where(results.c.run_id.in_(selected), results.c.seq.in_(seqs[i:i + _BATCH]))):
            original = orjson.loads(output) if status == "ok" and output else None
            answers[run_id, seq] = fixes[seq].get(run_id, original)
    return {seq: {column: answers.get((run_id, seq)) for column, run_id in run_ids.items()} for seq in seqs}


def differing(corrected: dict[int, Outputs], fields: Iterable[str]) -> list[int]:
    """The corrected records on which the answers as corrected differ on one of ``fields``."""
    shown = list(fields)
    return sorted(seq for seq, answers in corrected.items() if disagreeing_fields(answers, shown))


def disagreement_scores(corrected: dict[int, Outputs], fields: list[str]) -> dict[int, int]:
    """seq -> on how many verdict fields the answers as corrected differ (the contested order's score)."""
    return {seq: len(disagreeing_fields(answers, fields)) for seq, answers in corrected.items()}

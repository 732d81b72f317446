"""The answers as corrected, for the few records a person fixed: the grid's disagreement follows them.

A record with no correction on a selected column's run is compared by its stored verdict keys, in
SQL and in the per-record marks (marks.py), which never look at annotations. A record with one is
compared here, in Python, on each column's answer as corrected (a correction replaces the model's
answer; a fixed error counts as answered), by ``domain.comparison.disagreeing_fields`` — the same
function a row's ``disagree_fields`` comes from. Rows, filters, counts and the contested order
all take these records' disagreement from here, so they agree.

Kept per selection of runs, like the marks: a new annotation re-reads the corrections (an index
range) and the results of records not seen yet; new results re-read only the corrected records
they touched (the runs' events say which).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import orjson
import sqlalchemy as sa

from workbench.domain.comparison import Outputs, disagreeing_fields
from workbench.grid.marks import _results_version, _touched_records
from workbench.grid.selection import GridQuery
from workbench.store.db import store_cache
from workbench.store.schema import annotation_events, annotations as annotation_states, results

_BATCH = 1000


@dataclass
class CorrectedAnswers:
    """seq -> column -> its answer as corrected (None: no valid answer), for the corrected records."""

    answers: dict[int, Outputs]
    _differ: dict[tuple[int, str], bool] = field(default_factory=dict)  # (seq, field) -> differ, worked out once
    _differing: dict[tuple[str, ...], list[int]] = field(default_factory=dict)  # fields -> differing()

    def __bool__(self) -> bool:
        return bool(self.answers)

    def __contains__(self, seq: int) -> bool:
        return seq in self.answers

    def differ(self, seq: int, fields: list[str]) -> list[str]:
        """The fields among ``fields`` on which the record's answers as corrected differ."""
        found = []
        for name in fields:
            known = self._differ.get((seq, name))
            if known is None:
                known = self._differ[seq, name] = bool(disagreeing_fields(self.answers[seq], [name]))
            if known:
                found.append(name)
        return found

    def differing(self, fields: list[str]) -> list[int]:
        """The corrected records whose answers as corrected differ on one of ``fields`` (asked by every
        page of a filter, so kept: these answers never change, a change makes a new CorrectedAnswers)."""
        key = tuple(fields)
        found = self._differing.get(key)
        if found is None:
            found = self._differing[key] = sorted(seq for seq in self.answers if self.differ(seq, fields))
        return found

    def disagreement_scores(self, fields: list[str]) -> dict[int, int]:
        """seq -> on how many of ``fields`` they differ (the contested order's score)."""
        return {seq: len(self.differ(seq, fields)) for seq in self.answers}


NONE = CorrectedAnswers({})


@dataclass
class _Entry:
    annotations_version: int | None = None
    results_version: tuple | None = None
    fixes: dict[int, dict[int, dict]] = field(default_factory=dict)  # seq -> run id -> correction
    originals: dict[int, dict[int, dict | None]] = field(default_factory=dict)  # seq -> run id -> ok output
    shown: CorrectedAnswers = field(default_factory=lambda: NONE)


class _Cache:
    MAX_SELECTIONS = 64

    def __init__(self) -> None:
        self.entries: dict[tuple, _Entry] = {}
        self.lock = threading.Lock()


def corrected_answers(conn: sa.Connection, store, query: GridQuery) -> CorrectedAnswers:
    """The selection's corrected records and their answers as corrected (see the module's text)."""
    run_ids = query.run_ids
    selected = sorted(set(run_ids.values()))
    if not selected:
        return NONE
    cache: _Cache = store_cache(store, "grid.corrections", _Cache)
    key = (query.dataset_id, tuple(sorted(run_ids.items())))
    with cache.lock:
        if len(cache.entries) >= cache.MAX_SELECTIONS and key not in cache.entries:
            cache.entries.clear()
        entry = cache.entries.setdefault(key, _Entry())
    # Versions read before the rows: a change in between is read again next time, never missed.
    annotations_version = conn.execute(sa.select(sa.func.max(annotation_events.c.id))).scalar()
    results_version = _results_version(conn, query)
    with cache.lock:
        if entry.annotations_version == annotations_version and entry.results_version == results_version:
            return entry.shown
    fixes = entry.fixes
    if entry.annotations_version != annotations_version or entry.annotations_version is None:
        fixes = _fixes(conn, query.dataset_id, selected)
    originals = dict(entry.originals)
    if entry.results_version != results_version:
        touched = None if entry.results_version is None else _touched_records(conn, query, entry.results_version,
                                                                              results_version)
        if touched is None:
            originals = {}
        for seq in touched or ():
            originals.pop(seq, None)
    originals = {seq: found for seq, found in originals.items() if seq in fixes}
    originals.update(_originals(conn, [seq for seq in fixes if seq not in originals], selected))
    shown = CorrectedAnswers({seq: {column: (fixed.get(run_id, originals[seq][run_id]) if run_id in originals[seq]
                                              else None)  # no result row: no answer, fixed or not, as on a row
                                    for column, run_id in run_ids.items()}
                              for seq, fixed in fixes.items()})
    with cache.lock:
        cache.entries[key] = _Entry(annotations_version, results_version, fixes, originals, shown)
    return shown


def _fixes(conn: sa.Connection, dataset_id: str, selected: list[int]) -> dict[int, dict[int, dict]]:
    fixes: dict[int, dict[int, dict]] = {}
    for seq, run_id, correction in conn.execute(
            sa.select(annotation_states.c.seq, annotation_states.c.run_id, annotation_states.c.correction)
            .where(annotation_states.c.dataset_id == dataset_id, annotation_states.c.run_id.in_(selected),
                   annotation_states.c.correction.is_not(None))):
        fixes.setdefault(seq, {})[run_id] = orjson.loads(correction)
    return fixes


def _originals(conn: sa.Connection, seqs: list[int], selected: list[int]) -> dict[int, dict[int, dict | None]]:
    """seq -> run id -> the model's valid answer (None for an error), for the runs with a result."""
    found: dict[int, dict[int, dict | None]] = {seq: {} for seq in seqs}
    ordered = sorted(seqs)
    for i in range(0, len(ordered), _BATCH):
        for run_id, seq, status, output in conn.execute(
                sa.select(results.c.run_id, results.c.seq, results.c.status, results.c.output)
                .where(results.c.run_id.in_(selected), results.c.seq.in_(ordered[i:i + _BATCH]))):
            found[seq][run_id] = orjson.loads(output) if status == "ok" and output else None
    return found

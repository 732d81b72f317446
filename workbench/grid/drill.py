"""The grid's drill-down from a Metrics figure: which records a confusion cell or a pair's
agreement counted, asked of the very functions the figures count with (domain/metrics.py
``confusion_cell`` and ``pair_agrees``) over the same records (curation.py), so the drill's
records are the figure's. An ANNOTATORS drill lists the records where people disagree, from the
same labels and function /api/agreement/annotators counts them with.

It is a pass over the dataset in Python, so its answer is kept per drill until the columns'
results or any annotation change (the versions read before the pass, as marks.py does).
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass

import sqlalchemy as sa

from workbench.domain.annotator_agreement import disagreeing_on_any
from workbench.domain.metrics import confusion_cell, pair_agrees
from workbench.grid.curation import iter_curated_seqs
from workbench.grid.views import iter_record_results
from workbench.store.annotator_labels import AGREEMENT_FIELDS, standing_labels
from workbench.store.db import Store, store_cache
from workbench.store.schema import annotation_events, datasets, events

CONFUSION, PAIR, ANNOTATORS = "confusion", "pair", "annotators"


@dataclass(frozen=True)
class Drill:
    """One drill: ``kind`` CONFUSION (``columns`` one column; ``label`` and ``answer`` indexes
    into ``options``, len(options) being OTHER), PAIR (two columns; ``agree``) or ANNOTATORS
    (every column shown, whose answers' labels count; ``field`` one of AGREEMENT_FIELDS or "": any)."""

    kind: str
    columns: tuple[str, ...]
    field: str
    options: tuple[str, ...] = ()
    label: int = 0
    answer: int = 0
    agree: bool = True


def drill_seqs(store: Store, dataset_id: str, run_ids: dict[str, int], drill: Drill) -> array:
    """The seqs (ascending) of the records the drill's figure counted; ``run_ids`` has its columns."""
    runs = {column: run_ids[column] for column in drill.columns}
    cache = _cache(store)
    key = (dataset_id, tuple(sorted(runs.items())), drill)
    with cache.lock:
        lock = cache.locks.setdefault(key, threading.Lock())
    with lock:
        version = _version(store, dataset_id, runs, with_annotations=drill.kind in (CONFUSION, ANNOTATORS))
        hit = cache.entries.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        seqs = array("l", _members(store, dataset_id, runs, drill))
        with cache.lock:
            if len(cache.entries) >= _MAX_DRILLS:
                cache.entries.clear()
                cache.locks.clear()  # a thread still holding an old lock just computes the same seqs
            cache.entries[key] = (version, seqs)
        return seqs


def _members(store: Store, dataset_id: str, runs: dict[str, int], drill: Drill):
    if drill.kind == ANNOTATORS:
        fields = [drill.field] if drill.field else list(AGREEMENT_FIELDS)
        labels = standing_labels(store, dataset_id, runs.values(), fields)
        yield from sorted(disagreeing_on_any(labels, fields))
        return
    if drill.kind == CONFUSION:
        (column,) = drill.columns
        options, wanted = list(drill.options), (drill.label, drill.answer)
        # Only a record with an answer annotated has a reference label, so only those are read.
        for seq, item in iter_curated_seqs(store, dataset_id, runs, with_data=False, annotated_only=True):
            result = item.results.get(column)
            output = result["output"] if result and result["status"] == "ok" else None
            if confusion_cell(options, drill.field, item.reference, output) == wanted:
                yield seq
        return
    a, b = drill.columns
    for record in iter_record_results(store, dataset_id, runs, with_data=False):
        outputs = record.outputs()
        if pair_agrees(outputs[a], outputs[b], drill.field) is drill.agree:
            yield record.seq


def _version(store: Store, dataset_id: str, runs: dict[str, int], *, with_annotations: bool) -> tuple:
    """The dataset's creation time, each run's latest event, and (for a reference label) the latest
    annotation event: what the drill's answer depends on."""
    parts = [sa.select(datasets.c.created_at).where(datasets.c.id == dataset_id).scalar_subquery()]
    parts += [sa.select(sa.func.max(events.c.id)).where(events.c.run_id == run_id).scalar_subquery()
              for run_id in sorted(set(runs.values()))]
    if with_annotations:
        parts.append(sa.select(sa.func.max(annotation_events.c.id)).scalar_subquery())
    with store.engine.connect() as conn:
        return tuple(conn.execute(sa.select(*parts)).one())


_MAX_DRILLS = 32


class _DrillCache:
    def __init__(self) -> None:
        self.entries: dict[tuple, tuple[tuple, array]] = {}
        self.locks: dict[tuple, threading.Lock] = {}
        self.lock = threading.Lock()


def _cache(store: Store) -> _DrillCache:
    return store_cache(store, "grid.drills", _DrillCache)

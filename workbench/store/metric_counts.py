"""What the Metrics figures count over every record, counted by SQL: each run's health (answers,
errors, latency, tokens) and its answers' verdict keys, one per record, so a pair of columns'
joint labels are counted without parsing an answer.

A verdict key (domain/comparison.verdict_key) is ``str(output.get(f, ""))`` of each verdict field,
joined by "\\x1f" in the run's task's order. A key's part is read back as the label only when it
is the text of exactly one of the field's enum options: an "ok" answer passed its task's schema,
so its value is that option. Anything else (an empty part: the field missing or ""; a value
outside the options; a separator inside a value) is ``None`` here, and the caller reads those
few records' answers instead.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.store.db import Store, postgres_settings
from workbench.store.schema import RECORD_LEVEL, annotation_events, datasets, events, records, results, runs
from workbench.store.schema import annotations as annotation_states

_BATCH = 1000  # seqs per IN list
_PIECES = "\x1e"  # between answers' keys in one aggregated string (a key may hold it: then rows)


@dataclass(frozen=True)
class VerdictCodes:
    """One run's answers as a code per seq (0: no valid answer) and each code's verdict key (None
    at 0, and for a valid answer stored without a key)."""

    codes: Sequence[int]
    keys: list[str | None]


def run_health(store: Store, run_id: int) -> dict[str, Any]:
    """``MetricsAccumulator.add_health`` keywords for every result of the run, as adding each does:
    a cached answer's latency measures the cache, so it is left out."""
    r = results.c
    totals = sa.select(
        sa.func.count().filter(r.status == "ok"), sa.func.sum(r.latency_ms).filter(r.cached == 0),
        sa.func.count(r.latency_ms).filter(r.cached == 0), sa.func.sum(r.tokens_in), sa.func.sum(r.tokens_out),
    ).where(r.run_id == run_id)
    kinds = (sa.select(r.error_kind, sa.func.count()).where(r.run_id == run_id, r.status == "error")
             .group_by(r.error_kind))
    with store.engine.connect() as conn:
        postgres_settings(conn, *_POSTGRES_SCAN)
        answered, latency_sum, latency_n, tokens_in, tokens_out = conn.execute(totals).one()
        errors: Counter[str] = Counter()
        for kind, count in conn.execute(kinds):
            errors[kind or "unknown"] += count
    return {"answered": int(answered), "errors_by_kind": dict(errors), "latency_sum": float(latency_sum or 0.0),
            "latency_n": int(latency_n), "tokens_in": int(tokens_in or 0), "tokens_out": int(tokens_out or 0)}


# SQLite: each valid answer's key ('' for none) in seq order, as one string (the rows are the cost);
# the covering index is named so that its order (seq within the run) is the scan's.
_SQLITE_KEYS = ("SELECT count(*), min(seq), max(seq), group_concat(coalesce(verdict_key, ''), char(30)){seqs} "
                "FROM results INDEXED BY results_verdicts WHERE run_id = :run_id AND status = 'ok'")
# PostgreSQL: the seqs of each key, an array each (its string_agg is three times slower).
_POSTGRES_KEYS = ("SELECT coalesce(verdict_key, ''), array_agg(seq) FROM results "
                  "WHERE run_id = :run_id AND status = 'ok' GROUP BY 1")
# For one run's scan on PostgreSQL: compiling it for JIT costs more than it saves, and the runs'
# scans already run at once on their own connections.
_POSTGRES_SCAN = ("jit = off", "max_parallel_workers_per_gather = 0")


def verdict_codes(store: Store, run_id: int) -> VerdictCodes:
    """The run's valid answers' verdict keys by seq ('' where a valid answer has none: unreadable)."""
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            postgres_settings(conn, *_POSTGRES_SCAN)
            groups = conn.execute(sa.text(_POSTGRES_KEYS), {"run_id": run_id}).all()
            return _encode_groups(groups)
        count, low, high, text = conn.execute(sa.text(_SQLITE_KEYS.format(seqs="")), {"run_id": run_id}).one()
        if not count:
            return VerdictCodes(array("B"), [None])
        if high - low + 1 == count and text.count(_PIECES) == count - 1:  # answered every record from low to high
            return _encode_text(text, low, high)
        # Gaps (errors, records not reached yet): the seqs too, in the same order.
        row = conn.execute(sa.text(_SQLITE_KEYS.format(seqs=", group_concat(seq, ',')")), {"run_id": run_id}).one()
        keys = row[3].split(_PIECES)
        seqs = [int(seq) for seq in row[4].split(",")]
        if len(keys) != len(seqs):  # a key holds the separator: a row per answer
            rows = conn.execute(sa.select(results.c.seq, sa.func.coalesce(results.c.verdict_key, "")).where(
                results.c.run_id == run_id, results.c.status == "ok")).all()
            seqs, keys = [r[0] for r in rows], [r[1] for r in rows]
    return _encode(seqs, keys, high)


def _encode_groups(groups: Sequence[Sequence[Any]]) -> VerdictCodes:
    """Codes from (key, its seqs) groups."""
    high = max((max(seqs) for _, seqs in groups), default=-1)
    codes = array(_typecode(len(groups) + 1), [0]) * (high + 1)
    for code, (_, seqs) in enumerate(groups, start=1):
        for seq in seqs:
            codes[seq] = code
    return VerdictCodes(codes, [None, *(key or None for key, _ in groups)])


def _typecode(size: int) -> str:
    return "B" if size <= 2**8 else "H" if size <= 2**16 else "L"


def _encode(seqs: Iterable[int], keys: list[str], high: int) -> VerdictCodes:
    distinct = list(dict.fromkeys(keys))
    code_of = {key: code for code, key in enumerate(distinct, start=1)}
    size = len(distinct) + 1
    codes = array(_typecode(size), [0]) * (high + 1)
    for seq, key in zip(seqs, keys, strict=True):
        codes[seq] = code_of[key]
    keyed: list[str | None] = [key or None for key in distinct]
    return VerdictCodes(codes, [None, *keyed])


_CHUNK = 1 << 20  # characters of the keys' string split at a time


def _encode_text(text: str, low: int, high: int) -> VerdictCodes:
    """``_encode`` of the keys joined in ``text`` (seqs low..high), split a chunk at a time: a list
    of a million keys held ~90 MB per run, and the Metrics scans of three runs run at once."""
    code_of: dict[str, int] = {}
    codes = array("L", [0]) * low
    position = 0
    while True:
        end = text.find(_PIECES, position + _CHUNK) if position + _CHUNK < len(text) else -1
        keys = (text[position:] if end == -1 else text[position:end]).split(_PIECES)
        for key in dict.fromkeys(keys):  # codes in order of first appearance, as _encode gives them
            code_of.setdefault(key, len(code_of) + 1)
        codes.extend(map(code_of.__getitem__, keys))
        if end == -1:
            break
        position = end + 1
    keyed: list[str | None] = [key or None for key in code_of]
    return VerdictCodes(array(_typecode(len(code_of) + 1), codes), [None, *keyed])


# Elements one call of Counter's C loop counts: it holds the GIL throughout, so a million at once
# held up every request of the server for ~0.1–0.25 s (the Metrics warm-up at 1M records).
_COUNTED_AT_ONCE = 1 << 16


def joint_codes(a: VerdictCodes, b: VerdictCodes) -> Counter[tuple[int, int]]:
    """How many records have each pair of codes, over the records both runs answered validly."""
    if isinstance(a.codes, array) and isinstance(b.codes, array) and a.codes.typecode == b.codes.typecode == "B":
        # A code each in one 16-bit number (b's in the high byte), counted in C.
        size = min(len(a.codes), len(b.codes))
        both = bytearray(2 * size)
        both[0::2], both[1::2] = a.codes[:size], b.codes[:size]
        pairs, counted = memoryview(both).cast("H"), Counter[int]()
        for start in range(0, size, _COUNTED_AT_ONCE):  # C counts a slice without letting other threads run
            counted.update(pairs[start:start + _COUNTED_AT_ONCE])
        joint = Counter({(pair & 0xFF, pair >> 8): n for pair, n in counted.items()} if sys.byteorder == "little"
                        else {(pair >> 8, pair & 0xFF): n for pair, n in counted.items()})
    else:
        joint = Counter()
        for start in range(0, min(len(a.codes), len(b.codes)), _COUNTED_AT_ONCE):  # past a run's last answer: none
            joint.update(zip(a.codes[start:start + _COUNTED_AT_ONCE], b.codes[start:start + _COUNTED_AT_ONCE],
                             strict=False))
    return Counter({(x, y): n for (x, y), n in joint.items() if x and y})


def seqs_with(a: VerdictCodes, b: VerdictCodes, codes_a: set[int], codes_b: set[int]) -> list[int]:
    """The records both answered where a's code is in ``codes_a`` or b's in ``codes_b``."""
    return [seq for seq, (x, y) in enumerate(zip(a.codes, b.codes, strict=False))
            if x and y and (x in codes_a or y in codes_b)]


def key_labels(key: str | None, own_fields: list[tuple[str, list[Any]]], wanted: list[str]) -> tuple | None:
    """The ``wanted`` fields' labels a verdict key stands for, in the task ``own_fields`` (name,
    enum options) it was written with; None when the key can't say (see the module's docstring)."""
    if key is None:
        return None
    parts = key.split("\x1f")
    if len(parts) != len(own_fields):
        return None
    position = {name: i for i, (name, _) in enumerate(own_fields)}
    labels = []
    for name in wanted:
        options = own_fields[position[name]][1]
        part = parts[position[name]]
        matching = [option for option in options if str(option) == part]
        if part == "" or len(matching) != 1:
            return None
        labels.append(matching[0])
    return tuple(labels)


def answers(store: Store, run_ids: dict[str, int], seqs: list[int]) -> dict[int, dict[str, dict | None]]:
    """seq -> column -> the column's valid answer (None: none), for these few records."""
    found: dict[int, dict[str, dict | None]] = {seq: dict.fromkeys(run_ids) for seq in seqs}
    columns_of: dict[int, list[str]] = {}
    for column, run_id in run_ids.items():
        columns_of.setdefault(run_id, []).append(column)
    r = results.c
    with store.engine.connect() as conn:
        for run_id, columns in columns_of.items():
            for start in range(0, len(seqs), _BATCH):
                rows = conn.execute(sa.select(r.seq, r.output).where(
                    r.run_id == run_id, r.status == "ok", r.seq.in_(seqs[start:start + _BATCH])))
                for seq, output in rows:
                    answer = orjson.loads(output) if output else None
                    for column in columns:
                        found[seq][column] = answer
    return found


def versions(store: Store, dataset_id: str, run_ids: Iterable[int]) -> tuple[tuple, dict[int, tuple]]:
    """What the figures' caches are valid for (service/metric_cache): the dataset's creation time
    and the newest annotation event; per run, its row's state and its newest event."""
    newest_event = sa.select(sa.func.max(events.c.id)).where(events.c.run_id == runs.c.id).scalar_subquery()
    newest_annotation = sa.select(sa.func.max(annotation_events.c.id)).scalar_subquery()
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(runs.c.id, runs.c.created_at, runs.c.updated_at, runs.c.status, runs.c.done,
                                      runs.c.errors, runs.c.cost, newest_event)
                            .where(runs.c.id.in_(sorted(set(run_ids))))).all()
        dataset = conn.execute(sa.select(datasets.c.created_at, newest_annotation)
                               .where(datasets.c.id == dataset_id)).first()
    return tuple(dataset or ()), {row[0]: tuple(row[1:]) for row in rows}


def record_count(store: Store, dataset_id: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(records.c.dataset_id == dataset_id)).scalar() or 0)


def stated_preferences(store: Store, dataset_id: str) -> dict[int, str]:
    """seq -> the stored preference, for the records that have one (few: people state them)."""
    a = annotation_states.c
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(a.seq, a.preference).where(
            a.dataset_id == dataset_id, a.run_id == RECORD_LEVEL, a.preference.is_not(None))).all()
    return {seq: preference for seq, preference in rows}

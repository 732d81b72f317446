"""The figures over the chosen columns: per-model health, agreement, accuracy against labels, win
rates, confusion (``compute_metrics``), zero-shot vs few-shot (``icl_comparison``) and the
comparison summary (``compare``). ``model_ids`` are column ids (domain/model_ids)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workbench.domain.annotations import reference_label
from workbench.domain.columns import shown_preference
from workbench.domain.comparison import ComparisonSummary
from workbench.domain import stats
from workbench.domain.metrics import MetricsAccumulator, kappa_from_counts
from workbench.grid.curation import iter_curated
from workbench.grid.views import iter_record_results
from workbench.service import metric_cache
from workbench.service.exports import NothingToExport, column_run_ids, first_task, verdict_fields
from workbench.store import metric_counts
from workbench.store.metric_counts import VerdictCodes
from workbench.store.annotations import answer_states
from workbench.store.db import Store
from workbench.store.runs import get_run

_SCANS = 4  # the runs' scans read at once, each on its own connection (the database does the work)


def metrics(store: Store, dataset_id: str, model_ids: list[str] | None) -> dict:
    """The Metrics panel's figures: ``compute_metrics`` and zero-shot vs few-shot where a model has both."""
    from workbench.service.few_shot_gain import icl_comparison

    return compute_metrics(store, dataset_id, model_ids) | {"icl": icl_comparison(store, dataset_id)}


def compute_metrics(store: Store, dataset_id: str, model_ids: list[str] | None, *, scans: int = _SCANS) -> dict:
    """Per-model figures, agreement with kappa, accuracy against labels, win rate, confusion: on the
    models' own answers (a correction is a reference label here, never the model's answer). The
    grid's drill-down (grid/drill.py) selects records with the same per-record functions.

    What counts every record (health, the pairs' joint labels) is counted by the database
    (store/metric_counts); only the few records with a reference label or a preference, and the
    answers a verdict key can't speak for, are read one by one. ``compute_metrics_by_walking``
    gives the same figures by reading every record. ``scans``: how many runs' scans at once (the
    warm-up reads one at a time: three threads turning scans into codes at once starved the
    server's requests of the GIL for up to 0.45 s at 1M records)."""
    run_ids = column_run_ids(store, dataset_id, model_ids)
    dataset_version, run_versions = metric_counts.versions(store, dataset_id, run_ids.values())

    def compute() -> dict:
        task = first_task(store, run_ids)
        accumulator = MetricsAccumulator(list(run_ids), dict(task.verdict_fields), task.primary_verdict)
        _count(store, dataset_id, run_ids, accumulator, run_versions, scans)
        return _with_costs(store, run_ids, accumulator)

    version = (dataset_version, tuple(sorted(run_versions.items())))
    return metric_cache.figures(store, (dataset_id, tuple(run_ids.items())), version, compute)


def compute_metrics_by_walking(store: Store, dataset_id: str, model_ids: list[str] | None) -> dict:
    """``compute_metrics`` by reading every record's answers in Python: the reference it is tested against."""
    run_ids = column_run_ids(store, dataset_id, model_ids)
    task = first_task(store, run_ids)
    accumulator = MetricsAccumulator(list(run_ids), dict(task.verdict_fields), task.primary_verdict)
    for item in iter_curated(store, dataset_id, run_ids, with_data=False):
        outputs = {m: (r["output"] if r and r["status"] == "ok" else None) for m, r in item.results.items()}
        accumulator.add(outputs=outputs, results=item.results, reference=item.reference, preference=item.preference)
    return _with_costs(store, run_ids, accumulator)


def _with_costs(store: Store, run_ids: dict[str, int], accumulator: MetricsAccumulator) -> dict:
    result = accumulator.to_dict()
    result["costs"] = {m: get_run(store, run_id).cost for m, run_id in run_ids.items()}
    return result


def _count(store: Store, dataset_id: str, run_ids: dict[str, int], accumulator: MetricsAccumulator,
           run_versions: dict[int, tuple], scans: int) -> None:
    fields = list(accumulator.verdict_fields)
    runs = list(dict.fromkeys(run_ids.values()))
    own_fields = {run_id: first_task(store, {"": run_id}).verdict_fields for run_id in runs}
    keyed = [run_id for run_id in runs if set(fields) <= {name for name, _ in own_fields[run_id]}]
    cache = metric_cache.metric_cache(store)

    def scan(name: str, run_id: int) -> Any:  # a run's counts, kept for its version
        count = getattr(metric_counts, name)
        return cache.get((name, run_id), run_versions.get(run_id), lambda: count(store, run_id))

    # As many at once as there are verdict scans, so they end first (the pairs wait for them) and the
    # health sums run while Python counts the pairs.
    with ThreadPoolExecutor(min(scans, max(2, len(keyed)))) as pool:
        codes = {run_id: pool.submit(scan, "verdict_codes", run_id) for run_id in keyed}
        health = {run_id: pool.submit(scan, "run_health", run_id) for run_id in runs}
        records = pool.submit(metric_counts.record_count, store, dataset_id)
        references, preferences = _annotated(store, dataset_id, run_ids)
        verdicts = {run_id: future.result() for run_id, future in codes.items()}
        labels = {run_id: [metric_counts.key_labels(key, own_fields[run_id], fields) for key in codes.keys]
                  for run_id, codes in verdicts.items()}
        to_read = _count_pairs(accumulator, run_ids, verdicts, labels)
        _read_pairs(store, dataset_id, run_ids, accumulator, to_read)
        answers = _labelled_answers(store, run_ids, sorted(references), verdicts, labels, fields)
        for seq, reference in references.items():
            accumulator.add_labelled(answers[seq], reference)
        for preference in preferences.values():
            accumulator.add_preference(preference)
        _bootstrap_agreement(accumulator)  # Python's work while the database sums the runs' health
        accumulator.records = records.result()
        for column, run_id in run_ids.items():
            accumulator.add_health(column, **health[run_id].result())


def _count_pairs(accumulator: MetricsAccumulator, run_ids: dict[str, int], verdicts: dict[int, VerdictCodes],
                 labels: dict[int, list[tuple | None]]) -> dict[tuple[str, str], set[int] | None]:
    """Each pair's joint labels from the runs' verdict codes; returns the records to read for the
    rest, per pair (None: every record, for a task without the compared fields)."""
    fields = list(accumulator.verdict_fields)
    to_read: dict[tuple[str, str], set[int] | None] = {}
    for a, b in accumulator.pairs:
        run_a, run_b = run_ids[a], run_ids[b]
        if run_a not in verdicts or run_b not in verdicts:
            to_read[(a, b)] = None  # its keys can't say
            continue
        labels_a, labels_b = labels[run_a], labels[run_b]
        for (x, y), count in metric_counts.joint_codes(verdicts[run_a], verdicts[run_b]).items():
            found_a, found_b = labels_a[x], labels_b[y]
            if found_a is not None and found_b is not None:
                for field, label_a, label_b in zip(fields, found_a, found_b, strict=True):
                    accumulator.add_pair_labels(field, a, b, label_a, label_b, count)
        unread_a = {x for x, found in enumerate(labels_a) if x and found is None}
        unread_b = {y for y, found in enumerate(labels_b) if y and found is None}
        if unread_a or unread_b:
            to_read[(a, b)] = set(metric_counts.seqs_with(verdicts[run_a], verdicts[run_b], unread_a, unread_b))
    return to_read


def _bootstrap_agreement(accumulator: MetricsAccumulator) -> None:
    """Draw the kappas' bootstrap intervals now (stats keeps them for ``to_dict``): the slowest
    part of the figures, done while the database still works on its part."""
    for joint in accumulator.joint.values():
        n = sum(joint.values())
        if kappa_from_counts(joint, n) is not None:
            stats.bootstrap_kappa(joint, n)


def _annotated(store: Store, dataset_id: str, run_ids: dict[str, int]) -> tuple[dict[int, dict], dict[int, str]]:
    """The records' reference labels (golden, else the latest correction) and their preferences as
    one of these columns: both few (people make them)."""
    references = {}
    for seq, states in answer_states(store, dataset_id).items():
        chosen = reference_label(states)
        if chosen is not None and chosen[0] is not None:
            references[seq] = chosen[0]
    preferences = {}
    for seq, stored in metric_counts.stated_preferences(store, dataset_id).items():
        shown = shown_preference(stored, run_ids)
        if shown is not None:
            preferences[seq] = shown
    return references, preferences


def _labelled_answers(store: Store, run_ids: dict[str, int], seqs: list[int], verdicts: dict[int, VerdictCodes],
                      labels: dict[int, list[tuple | None]], fields: list[str]) -> dict[int, dict[str, dict | None]]:
    """Each column's answer on these records, as far as the figures look (its verdict fields): from
    the verdict keys where they say, else read."""
    found: dict[int, dict[str, dict | None]] = {}
    unread: list[int] = []
    for seq in seqs:
        outputs: dict[str, dict | None] = {}
        for column, run_id in run_ids.items():
            codes = verdicts.get(run_id)
            if codes is None:  # a task without the compared fields
                unread.append(seq)
                break
            code = codes.codes[seq] if seq < len(codes.codes) else 0  # 0: no valid answer
            said = labels[run_id][code] if code else None
            if code and said is None:
                unread.append(seq)
                break
            outputs[column] = dict(zip(fields, said, strict=True)) if said is not None else None
        else:
            found[seq] = outputs
    return found | metric_counts.answers(store, run_ids, unread)


def _read_pairs(store: Store, dataset_id: str, run_ids: dict[str, int], accumulator: MetricsAccumulator,
                to_read: dict[tuple[str, str], set[int] | None]) -> None:
    """The pairs' joint labels on the records their verdict keys can't speak for, from the answers."""
    if not to_read:
        return
    columns = {column: run_ids[column] for pair in to_read for column in pair}
    if any(seqs is None for seqs in to_read.values()):
        items = iter_record_results(store, dataset_id, columns, with_data=False)
        _add_pairs(accumulator, to_read, ((item.seq, item.outputs()) for item in items))
    else:
        wanted = sorted(set().union(*(seqs for seqs in to_read.values() if seqs is not None)))
        _add_pairs(accumulator, to_read, metric_counts.answers(store, columns, wanted).items())


def _add_pairs(accumulator: MetricsAccumulator, to_read: dict[tuple[str, str], set[int] | None],
               answers: Iterable[tuple[int, dict[str, dict | None]]]) -> None:
    for seq, outputs in answers:
        for (a, b), seqs in to_read.items():
            if seqs is None or seq in seqs:
                _add_pair(accumulator, a, b, outputs.get(a), outputs.get(b))


def _add_pair(accumulator: MetricsAccumulator, a: str, b: str, out_a: dict | None, out_b: dict | None) -> None:
    if out_a is None or out_b is None:  # as MetricsAccumulator.add: not in this pair's n
        return
    for field in accumulator.verdict_fields:
        accumulator.add_pair_labels(field, a, b, out_a.get(field), out_b.get(field))


def compare(store: Store, dataset_id: str, model_ids: list[str] | None) -> ComparisonSummary:
    """Agreement between the columns on their models' own answers (not as corrected: this
    measures the models; the grid's "differences" follow corrections)."""
    run_ids = column_run_ids(store, dataset_id, model_ids)
    if len(run_ids) < 2:
        raise NothingToExport("comparing needs at least two columns (models or runs) with runs on this dataset")
    summary = ComparisonSummary(list(run_ids), verdict_fields(store, run_ids))
    for item in iter_record_results(store, dataset_id, run_ids, with_data=False):
        summary.add(item.outputs())
    return summary

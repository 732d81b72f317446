"""Zero-shot vs few-shot of one model on the same records: did the golden examples help?

Honest by construction: a record is compared only when both runs answered it, it was not one of
the examples, and its label is not that model's own unedited answer (such a label scores the run
it came from 100% by construction). The gain is a paired difference with Newcombe's interval and
the exact McNemar test on the same records."""

from __future__ import annotations

from typing import Any

from workbench.domain import stats
from workbench.domain.metrics import accuracy_on
from workbench.grid.curation import iter_curated_seqs
from workbench.store.db import Store
from workbench.store.runs import RunInfo, list_runs
from workbench.store.tasks import get_task


def self_labelled(provenance: dict | None, model_id: str) -> bool:
    """Whether a label is ``model_id``'s own answer as it gave it (from any of its runs)."""
    if not provenance:
        return False
    return provenance.get("model_id") == model_id and not provenance.get("corrected")


def _with_interval(accuracy: dict[str, Any]) -> dict[str, Any]:
    figure = stats.proportion(accuracy["correct"], accuracy["n"])
    return accuracy | {"low": figure["low"], "high": figure["high"], "small": figure["small"]}


def _why(model_id: str, examples: int, self_count: int) -> str:
    parts = []
    if examples:
        parts.append(f"{examples} example record{'s' if examples != 1 else ''} "
                     "(a run is never scored on its own examples)")
    if self_count:
        parts.append(f"{self_count} record{'s' if self_count != 1 else ''} whose label is {model_id}'s own "
                     "unedited answer (it would score that run 100% by construction)")
    return "left out: " + "; ".join(parts) if parts else ""


def icl_comparison(store: Store, dataset_id: str) -> list[dict]:
    """For each model with a zero-shot and a few-shot run here: accuracy against the reference
    labels of both on the same records, their paired difference (few − zero) with its interval and
    the McNemar test, and what was left out and why."""
    by_model: dict[str, dict[str, RunInfo]] = {}
    for run in list_runs(store, dataset_id=dataset_id):
        if run.done == 0 or run.kind != "answer":
            continue
        kind = "few" if run.options.get("few_shot") else "zero"
        by_model.setdefault(run.model_id, {})[kind] = run  # latest of each kind wins
    rows = []
    for model_id, pair in by_model.items():
        if "zero" not in pair or "few" not in pair:
            continue
        row = _compare(store, dataset_id, model_id, pair["zero"], pair["few"])
        if row is not None:
            rows.append(row)
    return rows


def _compare(store: Store, dataset_id: str, model_id: str, zero: RunInfo, few: RunInfo) -> dict[str, Any] | None:
    primary = get_task(store, few.task_name, few.task_version).primary_verdict
    if primary is None:
        return None  # nothing to score: the task names no primary verdict
    examples = set(few.options.get("example_ids") or [])
    pairs_zero, pairs_few = [], []
    left_out_examples = left_out_self = 0
    table = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}  # (few right, zero right)
    # Only records with an answer annotation can have a reference label: the rest is never read.
    for _, item in iter_curated_seqs(store, dataset_id, {"zero": zero.id, "few": few.id}, with_data=False,
                                     annotated_only=True):
        if item.reference is None:
            continue
        z, f = item.results.get("zero"), item.results.get("few")
        if not (z and f and z["status"] == "ok" and f["status"] == "ok"):
            continue  # both runs must have answered, so the records compared are the same
        if item.record_id in examples:
            left_out_examples += 1
            continue
        if self_labelled(item.provenance, model_id):
            left_out_self += 1
            continue
        pairs_zero.append((z["output"], item.reference))
        pairs_few.append((f["output"], item.reference))
        label = item.reference.get(primary)
        table[(f["output"].get(primary) == label, z["output"].get(primary) == label)] += 1
    return {
        "model_id": model_id, "field": primary, "examples": few.options.get("few_shot"),
        "zero_shot": {"run_id": zero.id, **_with_interval(accuracy_on(pairs_zero, primary))},
        "few_shot": {"run_id": few.id, **_with_interval(accuracy_on(pairs_few, primary))},
        "excluded_examples": len(examples),
        "excluded_self_labelled": left_out_self,
        "excluded_note": _why(model_id, left_out_examples, left_out_self),
        "difference": stats.paired_difference(table[(True, True)], table[(True, False)], table[(False, True)],
                                              table[(False, False)]),
        "mcnemar": stats.mcnemar_exact(table[(True, False)], table[(False, True)], names=("few-shot", "zero-shot")),
    }

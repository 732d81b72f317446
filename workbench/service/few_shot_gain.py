"""Zero-shot vs few-shot of one model on the same records: did the golden examples help?"""

from __future__ import annotations

from workbench.grid.curation import iter_curated
from workbench.store.db import Store
from workbench.store.tasks import get_task


def icl_comparison(store: Store, dataset_id: str) -> list[dict]:
    """For each model with a zero-shot and a few-shot run here: accuracy against the reference
    labels of both, on the same records, leaving out the records used as examples."""
    from workbench.domain.metrics import accuracy_on
    from workbench.store.runs import RunInfo, list_runs

    by_model: dict[str, dict[str, RunInfo]] = {}
    for run in list_runs(store, dataset_id=dataset_id):
        if run.done == 0:
            continue
        kind = "few" if run.options.get("few_shot") else "zero"
        by_model.setdefault(run.model_id, {})[kind] = run  # latest of each kind wins
    rows = []
    for model_id, pair in by_model.items():
        if "zero" not in pair or "few" not in pair:
            continue
        zero, few = pair["zero"], pair["few"]
        task = get_task(store, few.task_name, few.task_version)
        primary = task.primary_verdict
        if primary is None:
            continue  # nothing to score: the task names no primary verdict
        excluded = set(few.options.get("example_ids") or [])
        pairs_zero, pairs_few = [], []
        for item in iter_curated(store, dataset_id, {"zero": zero.id, "few": few.id}, with_data=False):
            if item.reference is None or item.record_id in excluded:
                continue
            z, f = item.results.get("zero"), item.results.get("few")
            if not (z and f and z["status"] == "ok" and f["status"] == "ok"):
                continue  # both runs must have answered, so the records compared are the same
            pairs_zero.append((z["output"], item.reference))
            pairs_few.append((f["output"], item.reference))
        rows.append({
            "model_id": model_id, "field": primary, "examples": few.options.get("few_shot"),
            "zero_shot": {"run_id": zero.id, **accuracy_on(pairs_zero, primary)},
            "few_shot": {"run_id": few.id, **accuracy_on(pairs_few, primary)},
            "excluded_examples": len(excluded),
        })
    return rows

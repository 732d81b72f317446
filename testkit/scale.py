"""A big dataset with three models' results, written straight through the store (for the scale
benchmark and the page-at-scale test): ~30% disagreement, 1% golden and 0.5% fixed answers."""

from __future__ import annotations

import hashlib
import random

MODELS = ("gemma", "olmo", "gptoss")
RECS = ["Strong Yes", "Yes", "Maybe", "No", "Strong No"]
GRADES = ["Strong", "Good", "Average", "Weak"]


def answer(record_id: str, model: str) -> dict:
    h = int(hashlib.blake2b(record_id.encode(), digest_size=8).hexdigest(), 16)
    rec, traj, ped = h % 5, (h >> 8) % 4, (h >> 16) % 4
    m = int(hashlib.blake2b(f"{model}:{record_id}".encode(), digest_size=8).hexdigest(), 16)
    if m % 100 < 30:
        rec = (rec + (1 if m & 256 else -1)) % 5
    if m % 100 < 10:
        traj = (traj + 1) % 4
    return {"recommendation": RECS[rec], "trajectory": GRADES[traj], "pedigree": GRADES[ped],
            "reasoning": f"{GRADES[traj]} trajectory, {GRADES[ped].lower()} pedigree."}


def populate(settings, dataset_id: str) -> None:
    """Three completed runs with results, plus golden and fixed annotations, through the store."""
    from workbench.domain.comparison import verdict_key
    from workbench.domain.models import build_model
    from workbench.store.annotations import annotate
    from workbench.store.db import refresh_statistics
    from workbench.store.datasets import iter_records
    from workbench.store.models import save_model
    from workbench.store.results import ResultRow, RunUpdate, write_batch
    from workbench.store.runs import create_run, recount, set_status
    from workbench.store.tasks import get_task
    from workbench.service.workspace import open_workspace

    store = open_workspace(settings)
    task = get_task(store, "candidate-screening")
    fields = [n for n, _ in task.verdict_fields]
    runs = {}
    for model in MODELS:
        config = build_model({"id": model, "provider": "openai", "base_url": "http://127.0.0.1:9/v1", "model": model})
        save_model(store, config)
        run = create_run(store, dataset_id=dataset_id, model=config, task_name=task.name, task_version=task.version,
                         total=0, options={})
        runs[model] = run.id
    batch: dict[str, list] = {m: [] for m in MODELS}
    total = 0

    def flush():
        updates = [RunUpdate(runs[m], rows, [], {"run_id": runs[m], "done": 0, "errors": 0, "tokens_in": 0,
                                                 "tokens_out": 0, "cost": 0, "active_seconds": 0, "model_id": m,
                                                 "dataset_id": dataset_id})
                   for m, rows in batch.items()]
        write_batch(store, updates)
        for rows in batch.values():
            rows.clear()

    for record in iter_records(store, dataset_id, batch=5000):
        total += 1
        for model in MODELS:
            out = answer(record.record_id, model)
            batch[model].append(ResultRow(record.seq, record.record_id, "ok", out, None, None, None, 120.0, 400, 40,
                                          1, False, verdict_key(out, fields), out["recommendation"]))
        if total % 5000 == 0:
            flush()
    flush()
    from workbench.store.schema import events, runs as runs_table

    with store.engine.begin() as conn:  # the bulk load's result events are not part of the scenario
        conn.execute(events.delete().where(events.c.type == "result"))
        conn.execute(runs_table.update().values(total=total))
    for run_id in runs.values():
        recount(store, run_id)
        set_status(store, run_id, "completed")
    rng = random.Random(1)
    for seq in rng.sample(range(1, total + 1), total // 100):
        annotate(store, dataset_id=dataset_id, record_id=f"cand-{seq:06d}", model_id=rng.choice(MODELS),
                 field="golden", value=True, author="bench")
    fixed = dict(answer("x", "y"), recommendation="Maybe", reasoning="fixed")
    for seq in rng.sample(range(1, total + 1), total // 200):
        annotate(store, dataset_id=dataset_id, record_id=f"cand-{seq:06d}", model_id=rng.choice(MODELS),
                 field="correction", value=fixed, author="bench")
    # These annotations stand for weeks of work, over which PostgreSQL's autovacuum would have
    # analysed the table; written in seconds, its planner would still think it empty. The bulk
    # load's deleted events would draw autovacuum in the middle of the measurements: done now.
    for table in ("annotations", "annotation_events", "events"):
        refresh_statistics(store, table, vacuum=True)
    store.close()


def rewrite_results(store, run, seqs) -> None:
    """Write results again for records that have them: the table keeps its rows (insert-ignore)
    but the events flow, so readers do the same work as for new results."""
    from workbench.store.results import ResultRow, RunUpdate, write_batch

    rows = [ResultRow(s, f"cand-{s:06d}", "ok", None, None, None, None, 1.0, 0, 0, 1, False) for s in seqs]
    write_batch(store, [RunUpdate(run.id, rows, [], {"run_id": run.id, "done": run.done, "errors": 0, "tokens_in": 0,
                                                     "tokens_out": 0, "cost": 0, "active_seconds": 0,
                                                     "model_id": run.model_id, "dataset_id": run.dataset_id})])


def build(settings, records: int, source) -> None:
    """A synthetic dataset "big" of ``records`` records written to ``source`` and imported, with
    three models' results (``populate``): what the page tests and benchmarks at scale open."""
    from testkit.synthetic import write_jsonl
    from workbench.service.workspace import open_workspace
    from workbench.store.datasets import import_dataset

    write_jsonl(source, records)
    store = open_workspace(settings)
    import_dataset(store, source, name="big")
    store.close()
    populate(settings, "big")

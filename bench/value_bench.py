"""Review by expected value and bulk actions at scale: the first page of sort=value (first scan, then
warm, then after an annotation), a deep page by its cursor, and a bulk "reviewed" of a filter (its
count, its write, its undo).

    .venv/bin/python bench/value_bench.py DATA_DIR [DATASET_ID]

DATA_DIR holds a workbench.db (e.g. testkit.scale's 200K x 3); it is written to (bulk marks and
undoes them): run it on a copy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import _util  # noqa: F401 (puts the repository on sys.path)
from _util import machine, median, print_table


def timed(action, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - start) * 1000)
    return median(times), result


def main() -> None:
    from workbench.config import Settings
    from workbench.service.bulk import bulk_annotate
    from workbench.service.curation import annotate, undo
    from workbench.service.grid import grid_view
    from workbench.service.workspace import open_workspace
    from workbench.store.runs import latest_runs

    data_dir = Path(sys.argv[1])
    store = open_workspace(Settings.load(data_dir=data_dir))
    from workbench.store.datasets import list_datasets

    dataset = sys.argv[2] if len(sys.argv) > 2 else max(list_datasets(store), key=lambda d: d.record_count).id
    models = ",".join(latest_runs(store, dataset))
    page = lambda **extra: grid_view(store, dataset, models=models, sort="value", counts=False, **extra)  # noqa: E731
    rows: list[list[str]] = []
    first_ms, first = timed(page)
    rows.append(["sort=value, first page, first scan", f"{first_ms:.0f} ms"])
    warm_ms, first = timed(page, 5)
    rows.append(["sort=value, first page, warm (median of 5)", f"{warm_ms:.1f} ms"])
    contested_ms, _ = timed(lambda: grid_view(store, dataset, models=models, sort="disagreement", counts=False), 5)
    rows.append(["for reference: sort=disagreement, first page, warm (median of 5)", f"{contested_ms:.1f} ms"])
    cursor = first["next_cursor"]
    deep = None
    for _ in range(20):
        deep = page(cursor=cursor)
        cursor = deep["next_cursor"]
    deep_ms, _ = timed(lambda: page(cursor=cursor), 5)
    rows.append(["sort=value, page 22 by its cursor (median of 5)", f"{deep_ms:.1f} ms"])
    top = first["results"][0]
    annotate(store, dataset_id=dataset, record_id=top["candidate_id"], field="reviewed", value=True, author="bench")
    after_ms, _ = timed(page)
    rows.append(["sort=value, first page after an annotation", f"{after_ms:.1f} ms"])
    again_ms, _ = timed(page, 5)
    rows.append(["sort=value, first page after that (median of 5)", f"{again_ms:.1f} ms"])
    count_ms, asked = timed(lambda: bulk_annotate(store, dataset_id=dataset, action="reviewed", models=models,
                                                   filter="differences"))
    rows.append([f"bulk reviewed, differences: count ({asked['count']:,} records)", f"{count_ms:.0f} ms"])
    write_ms, done = timed(lambda: bulk_annotate(store, dataset_id=dataset, action="reviewed", models=models,
                                                  filter="differences", confirm=True, author="bench"))
    rows.append([f"bulk reviewed, differences: write ({done['changed']:,} changed)", f"{write_ms:.0f} ms"])
    valued_ms, _ = timed(page)
    rows.append(["sort=value, first page after the bulk", f"{valued_ms:.1f} ms"])
    undo_ms, undone = timed(lambda: undo(store, dataset_id=dataset, author="bench"))
    rows.append([f"undo the bulk ({undone['count']:,} records)", f"{undo_ms:.0f} ms"])
    undo(store, dataset_id=dataset, author="bench")  # the single annotation too
    print_table(f"Review by expected value and bulk, {store.dialect}, dataset {dataset!r} "
                f"({first['dataset']['count']:,} records x {len(first['models'])} columns); {machine()}",
                ["what", "time"], rows)


if __name__ == "__main__":
    main()

"""Runner speed: how close to the model server's own time a run gets, and how much memory it needs.

    .venv/bin/python bench/runner_bench.py [--repeat 5] [--sizes 2000,20000,200000]

1. 2,000 records, concurrency 50, a server answering after 100 ms: ideal 2000 × 0.1 / 50 = 4.0 s.
2. A server answering at once: records/s persisted.
3. Peak RSS of the runner process as the dataset grows (it must stay flat).
Every figure counts only runs whose results were all persisted. Each run is its own process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import ROOT, fake_server, machine, median, print_table

CHILD = r"""
import asyncio, json, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from workbench.config import Settings
from workbench.service.workspace import open_workspace
from workbench.domain.models import build_model
from workbench.store.models import save_model
from workbench.store.datasets import list_datasets
from workbench.runner.options import RunOptions
from workbench.runner.manager import RunManager
from workbench.service.runs import start_runs as prepare_runs
from workbench.store.runs import get_run
import sqlalchemy as sa

store = open_workspace(Settings.load(data_dir={data_dir!r}))
save_model(store, build_model({{"id": "bench", "provider": "openai", "base_url": {url!r}, "model": "bench",
                                "max_concurrency": {concurrency}}}))
dataset = list_datasets(store)[0]
runs = prepare_runs(store, dataset.id, ["bench"], options=RunOptions(fresh=True))
started = time.perf_counter()
final = asyncio.run(RunManager(store).execute([r.id for r in runs]))
elapsed = time.perf_counter() - started
run = get_run(store, runs[0].id)
with store.engine.connect() as conn:
    persisted = conn.execute(sa.text("SELECT count(*) FROM results WHERE run_id = :r"), {{"r": run.id}}).scalar_one()
print(json.dumps({{"elapsed": elapsed, "persisted": persisted, "total": run.total, "status": final[run.id],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def prepare(count: int) -> Path:
    from workbench.config import Settings
    from testkit.synthetic import write_jsonl
    from workbench.store.datasets import import_dataset
    from workbench.service.workspace import open_workspace

    data_dir = Path(tempfile.mkdtemp(prefix=f"wb-bench-{count}-"))
    write_jsonl(data_dir / "cands.jsonl", count)
    store = open_workspace(Settings.load(data_dir=data_dir))
    import_dataset(store, data_dir / "cands.jsonl")
    store.close()
    return data_dir


def run_once(data_dir: Path, url: str, concurrency: int) -> dict:
    # A fresh copy of the database each time, so every run starts from zero results.
    work = Path(tempfile.mkdtemp(prefix="wb-bench-run-"))
    subprocess.run(["cp", "-r", f"{data_dir}/.", str(work)], check=True)
    code = CHILD.format(root=str(ROOT), data_dir=str(work), url=url, concurrency=concurrency)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    assert figures["persisted"] == figures["total"] and figures["status"] == "completed", figures
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="2000,20000,200000")
    args = parser.parse_args()
    print(f"machine: {machine()}")

    two_k = prepare(2000)
    with fake_server("--latency-ms", "100") as url:
        times = [run_once(two_k, url, 50)["elapsed"] for _ in range(args.repeat)]
    ideal = 2000 * 0.1 / 50
    print_table(f"1. 2,000 records, concurrency 50, server latency 100 ms (median of {args.repeat})",
                ["ideal s", "median s", "min s", "max s", "over ideal"],
                [[f"{ideal:.2f}", f"{median(times):.2f}", f"{min(times):.2f}", f"{max(times):.2f}",
                  f"{(median(times) / ideal - 1) * 100:+.1f}%"]])

    five_k = prepare(5000)
    with fake_server("--latency-ms", "0") as url:
        rates = [5000 / run_once(five_k, url, 50)["elapsed"] for _ in range(args.repeat)]
    print_table(f"2. 5,000 records, concurrency 50, server latency 0 ms (median of {args.repeat})",
                ["median rec/s", "min rec/s", "max rec/s"],
                [[f"{median(rates):.0f}", f"{min(rates):.0f}", f"{max(rates):.0f}"]])

    rows = []
    with fake_server("--latency-ms", "0") as url:
        for size in [int(s) for s in args.sizes.split(",")]:
            data_dir = two_k if size == 2000 else prepare(size)
            figures = run_once(data_dir, url, 50)
            rows.append([f"{size:,}", f"{figures['elapsed']:.1f}", f"{size / figures['elapsed']:.0f}",
                         f"{figures['rss_mb']:.0f}"])
    print_table("3. Peak RSS of the runner process by dataset size (latency 0 ms)",
                ["records", "seconds", "rec/s", "peak RSS MB"], rows)
    print(f"\n(peak RSS of this driver: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()

"""Replicas add up: one model served by one vs two test servers that each handle 10 requests at
once and answer in 100 ms (like a GPU batch). Median of several runs; not a timed test.

    .venv/bin/python bench/replicas_bench.py [--records 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from _util import ROOT, fake_server, machine, median, print_table

sys.path.insert(0, str(ROOT))


def run_once(urls: list[str], records: int) -> float:
    from workbench.config import Settings
    from workbench.domain.models import build_model
    from testkit.synthetic import write_jsonl
    from workbench.runner.options import RunOptions
    from workbench.runner.manager import RunManager
    from workbench.service.runs import start_runs as prepare_runs
    from workbench.store.datasets import import_dataset
    from workbench.store.models import save_model
    from workbench.store.runs import get_run
    from workbench.service.workspace import open_workspace

    work = Path(tempfile.mkdtemp(prefix="wb-replicas-"))
    write_jsonl(work / "c.jsonl", records)
    store = open_workspace(Settings.load(data_dir=work / "data", database_url=f"sqlite:///{work / 'wb.db'}"))
    dataset = import_dataset(store, work / "c.jsonl").id
    save_model(store, build_model({"id": "m", "provider": "openai", "base_url": urls[0], "replicas": urls[1:],
                                   "model": "m", "max_concurrency": 10}))
    runs = prepare_runs(store, dataset, ["m"], options=RunOptions(fresh=True))
    started = time.perf_counter()
    asyncio.run(RunManager(store).execute([r.id for r in runs]))
    elapsed = time.perf_counter() - started
    assert get_run(store, runs[0].id).done == records
    return records / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    server_args = ("--latency-ms", "100", "--capacity", "10")
    with fake_server(*server_args) as a, fake_server(*server_args) as b:
        one = [run_once([a], args.records) for _ in range(args.repeat)]
        two = [run_once([a, b], args.records) for _ in range(args.repeat)]
    print_table(f"{args.records:,} records; each server: 10 at once, 100 ms (median of {args.repeat})",
                ["endpoints", "records/s", "vs one"],
                [["1 replica", f"{median(one):.0f}", "1.00×"],
                 ["2 replicas", f"{median(two):.0f}", f"{median(two) / median(one):.2f}×"]])


if __name__ == "__main__":
    main()

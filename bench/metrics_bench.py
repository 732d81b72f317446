"""The Metrics panel's request, GET /api/metrics, over N records × 3 models: cold and warm.

    .venv/bin/python bench/metrics_bench.py [--records 200000] [--repeat 5] [--postgres] [--data-dir DIR]

Builds the dataset "big" with 3 models' results, 1% golden and 0.5% fixed answers (testkit/scale.py)
in a temporary directory (and a throwaway PostgreSQL server with --postgres), or reuses a data
directory built that way (--data-dir; with WORKBENCH_DATABASE_URL for PostgreSQL). Cold: the first
request of a `workbench serve` just started (one per repeat, without its grid warm-up, so nothing
else runs meanwhile); warm: the same request again on one server; after the warm-up: the first
request of a server started as `workbench serve` starts by default, which counts big datasets and
reads their metrics' per-run scans in the background (service/warm_up.py). Prints medians, spreads and the
server's peak RSS; not a timed test. The Metrics panel's target is under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _util import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))
from testkit.scale import MODELS, build  # noqa: E402

from scale_bench import serving  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="build in a throwaway PostgreSQL server")
    parser.add_argument("--data-dir", type=Path, help="a data directory already built (dataset 'big')")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between a server's start and its request")
    parser.add_argument("--warm-up-wait", type=float, default=30.0,
                        help="seconds a server with its warm-up (the default of `workbench serve`) is left to warm")
    args = parser.parse_args()
    print(machine())
    with contextlib.ExitStack() as stack:
        env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DATABASE_URL"}
        if args.data_dir is not None:
            data_dir = args.data_dir
            env.update({k: v for k, v in os.environ.items() if k == "WORKBENCH_DATABASE_URL"})
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wb-metrics-")))
            data_dir = work / "data"
            if args.postgres:
                from testkit.postgres import create_database, postgres_server, wait_ready

                server = stack.enter_context(postgres_server())
                wait_ready(server)
                env["WORKBENCH_DATABASE_URL"] = create_database(server)
            started = time.perf_counter()
            from workbench.config import Settings

            build(Settings.load(data_dir=data_dir, database_url=env.get("WORKBENCH_DATABASE_URL")), args.records,
                  work / "big.jsonl")
            print(f"(built {args.records:,} records × {len(MODELS)} models in {time.perf_counter() - started:.0f} s)")
        store = "PostgreSQL" if env.get("WORKBENCH_DATABASE_URL") else "SQLite"
        path = f"/api/metrics?dataset_id=big&models={','.join(MODELS)}"
        cold, warm, warmed_up, rss = [], [], [], []
        for i in range(args.repeat):
            with serving(env, data_dir, "--no-warm-up") as (proc, base):
                time.sleep(args.settle)  # the server's own start (runner, sockets) done: only the caches are cold
                cold.append(get_ms(base + path))
                if i == 0:  # warm: the same server asked again
                    warm = [get_ms(base + path) for _ in range(args.repeat)]
                rss.append(peak_rss_mb(proc.pid))
        for _ in range(args.repeat):  # as a user meets it: `workbench serve` warms big datasets as it starts
            with serving(env, data_dir) as (proc, base):
                time.sleep(args.warm_up_wait)
                warmed_up.append(get_ms(base + path))
                rss.append(peak_rss_mb(proc.pid))
    rows = [[f"{args.records:,}", "GET /api/metrics, first request of a server (cold)",
             f"{statistics.median(cold):.0f}", spread(cold), f"{max(rss):.0f}"],
            [f"{args.records:,}", "GET /api/metrics, asked again (warm)", f"{statistics.median(warm):.0f}",
             spread(warm), ""],
            [f"{args.records:,}", "GET /api/metrics, first request after the server's warm-up",
             f"{statistics.median(warmed_up):.0f}", spread(warmed_up), ""]]
    print_table(f"Metrics, {store}, {len(MODELS)} models, median of {args.repeat} (ms; target < 1000)",
                ["records", "request", "median", "spread", "server peak RSS MB"], rows)


def get_ms(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        response.read()
        assert response.status == 200
    return (time.perf_counter() - started) * 1000


def spread(times: list[float]) -> str:
    return f"{min(times):.0f}–{max(times):.0f}"


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()

"""The page in Chromium over N records × 3 models: what a user feels, median of several cold starts.

    .venv/bin/python bench/page_bench.py [--records 5000 200000] [--repeat 5] [--postgres]
    .venv/bin/python bench/page_bench.py --data-dir DIR   # a dataset built by testkit.scale.build (1M)

For each size: imports a synthetic dataset, writes 3 models' results straight through the store
(testkit/scale.py), then per repeat starts a fresh `workbench serve` (no warm marks) and a fresh
browser context and times the steps of testkit/page_timings.py. Prints a table; not a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _util import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))
from testkit.page_timings import measure  # noqa: E402
from testkit.scale import MODELS, build  # noqa: E402

from scale_bench import serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[5000, 200_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--data-dir", type=Path, help="time the dataset 'big' already built there (with "
                        "WORKBENCH_DATABASE_URL set, its PostgreSQL database) instead of building each size")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(machine())
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        if args.data_dir is not None:
            env = dict(os.environ)
            rows += timed_steps(browser, env, args.data_dir, built_records(args.data_dir), args.repeat)
        for records in [] if args.data_dir is not None else args.records:
            with tempfile.TemporaryDirectory() as tmp, postgres_env(args.postgres) as env:
                data_dir = Path(tmp) / "data"
                os.environ.pop("WORKBENCH_DATABASE_URL", None)
                os.environ.update(env)  # the store of Settings.load is the one the server is given
                from workbench.config import Settings

                build(Settings.load(data_dir=data_dir), records, Path(tmp) / "big.jsonl")
                rows += timed_steps(browser, env, data_dir, records, args.repeat)
        browser.close()
    store = "PostgreSQL" if args.postgres or os.environ.get("WORKBENCH_DATABASE_URL") else "SQLite"
    print_table(f"The page in Chromium, {store}, 3 models, median of {args.repeat} cold starts (ms)",
                ["records", "step", "median", "spread"], rows)


def timed_steps(browser, env: dict, data_dir: Path, records: int, repeat: int) -> list[list[str]]:
    """Table rows: each step's median and spread over ``repeat`` fresh servers and browser contexts."""
    runs: dict[str, list[float]] = {}
    for _ in range(repeat):
        with serving(env, data_dir) as (_proc, url):
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            try:
                for step, seconds in measure(context.new_page(), url, records, MODELS).items():
                    runs.setdefault(step, []).append(seconds * 1000)
            finally:
                context.close()
    return [[f"{records:,}", step, f"{statistics.median(times):.0f}", f"{min(times):.0f}–{max(times):.0f}"]
            for step, times in runs.items()]


def built_records(data_dir: Path) -> int:
    """How many records the built dataset 'big' has (in the store of WORKBENCH_DATABASE_URL, if set)."""
    from workbench.config import Settings
    from workbench.service.workspace import open_workspace
    from workbench.store.datasets import get_dataset

    store = open_workspace(Settings.load(data_dir=data_dir, database_url=os.environ.get("WORKBENCH_DATABASE_URL")))
    try:
        return get_dataset(store, "big").record_count
    finally:
        store.close()


@contextlib.contextmanager
def postgres_env(postgres: bool):
    """The environment the data lives by: a throwaway PostgreSQL database, or SQLite in the data dir."""
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DATABASE_URL"}
    if not postgres:
        yield env
        return
    from testkit.postgres import create_database, postgres_server, wait_ready

    with postgres_server() as url:
        wait_ready(url)
        yield env | {"WORKBENCH_DATABASE_URL": create_database(url)}


if __name__ == "__main__":
    main()

"""Memory of `workbench run` as the dataset grows: peak RSS at 2K, 20K and 200K records (it must stay flat).

    .venv/bin/python bench/memory_bench.py [--repeat 5] [--sizes 2000,20000,200000] [--trace 20000,200000]

Each run is a whole `workbench run` process against the fake server answering at once (0 ms), on a
fresh copy of an imported data dir; its peak RSS is read by a wrapper process
(getrusage(RUSAGE_CHILDREN)), so it is the run's own peak, start-up included. Runs of the sizes are
interleaved (2K, 20K, 200K, 2K, ...) so a noisy machine spreads over all of them. Every figure counts
only runs whose results were all committed. ``--trees`` runs each source tree's `workbench` (checked-out
copies of two commits) in turn on every size, for an A/B in one sitting.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from _util import ROOT, fake_server, machine, median, print_table

WRAPPER = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
           "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
           "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")

SAVE_MODEL = r"""
import sys
sys.path.insert(0, {root!r})
from workbench.config import Settings
from workbench.service.workspace import open_workspace
from workbench.domain.models import build_model
from workbench.store.models import save_model
store = open_workspace(Settings.load(data_dir={data_dir!r}))
save_model(store, build_model({{"id": "bench", "provider": "openai", "base_url": {url!r}, "model": "bench",
                                "max_concurrency": {concurrency}}}))
"""

COUNT = r"""
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
total = db.execute("SELECT count(*) FROM records").fetchone()[0]
persisted = db.execute("SELECT count(*) FROM results").fetchone()[0]
status = db.execute("SELECT status FROM runs").fetchone()[0]
print(json.dumps({"total": total, "persisted": persisted, "status": status}))
"""

def prepare(count: int) -> Path:
    from testkit.synthetic import write_jsonl
    from workbench.config import Settings
    from workbench.service.workspace import open_workspace
    from workbench.store.datasets import import_dataset

    data_dir = Path(tempfile.mkdtemp(prefix=f"wb-mem-{count}-", dir=os.environ.get("BENCH_TMP")))
    write_jsonl(data_dir / "cands.jsonl", count)
    store = open_workspace(Settings.load(data_dir=data_dir))
    import_dataset(store, data_dir / "cands.jsonl")
    store.close()
    (data_dir / "cands.jsonl").unlink()
    return data_dir


def dataset_id(data_dir: Path) -> str:
    from workbench.config import Settings
    from workbench.service.workspace import open_workspace
    from workbench.store.datasets import list_datasets

    store = open_workspace(Settings.load(data_dir=data_dir))
    try:
        return list_datasets(store)[0].id
    finally:
        store.close()


def run_once(data_dir: Path, dataset: str, url: str, concurrency: int, tree: Path = ROOT) -> dict:
    """One whole `workbench run` on a fresh copy of ``data_dir``: seconds, peak RSS, all committed."""
    work = Path(tempfile.mkdtemp(prefix="wb-mem-run-", dir=os.environ.get("BENCH_TMP")))
    try:
        subprocess.run(["cp", "-r", f"{data_dir}/.", str(work)], check=True)
        code = SAVE_MODEL.format(root=str(tree), data_dir=str(work), url=url, concurrency=concurrency)
        subprocess.run([sys.executable, "-c", code], check=True)
        command = [sys.executable, "-m", "workbench", "run", "--dataset", dataset, "--model", "bench",
                   "--fresh", "--data-dir", str(work)]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        out = subprocess.run([sys.executable, "-c", WRAPPER, *command], cwd=tree, env=env, capture_output=True,
                             text=True, check=True)
        seconds, rss = (float(x) for x in out.stdout.split())
        db = next(work.rglob("*.db"))
        counted = json.loads(subprocess.run([sys.executable, "-c", COUNT, str(db)], capture_output=True,
                                            text=True, check=True).stdout)
        assert counted["persisted"] == counted["total"] and counted["status"] == "completed", counted
        return {"seconds": seconds, "rss_mb": rss, "records": counted["total"]}
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="2000,20000,200000")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--trees", help="source trees to compare, comma-separated [default: this one]")
    parser.add_argument("--data", help="SIZE=DIR,... data dirs prepared before (else prepared now)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    sizes = [int(s) for s in args.sizes.split(",")]
    trees = [Path(t).resolve() for t in args.trees.split(",")] if args.trees else [ROOT]
    given = dict(item.split("=", 1) for item in args.data.split(",")) if args.data else {}
    dirs = {size: Path(given[str(size)]) if str(size) in given else prepare(size) for size in sizes}
    ids = {size: dataset_id(d) for size, d in dirs.items()}
    figures: dict[tuple[Path, int], list[dict]] = {(tree, size): [] for tree in trees for size in sizes}
    with fake_server("--latency-ms", "0") as url:
        for i in range(args.repeat):
            for size in sizes:
                for tree in trees:
                    got = run_once(dirs[size], ids[size], url, args.concurrency, tree)
                    figures[tree, size].append(got)
                    print(f"  round {i + 1}: {tree.name} {size:,} records {got['seconds']:.1f} s, "
                          f"{got['rss_mb']:.0f} MB", file=sys.stderr, flush=True)
    rows = []
    for tree in trees:
        for size in sizes:
            rss = [f["rss_mb"] for f in figures[tree, size]]
            rate = [size / f["seconds"] for f in figures[tree, size]]
            smallest = median([f["rss_mb"] for f in figures[tree, sizes[0]]])
            rows.append([tree.name, f"{size:,}", f"{median(rss):.0f}", f"{min(rss):.0f}–{max(rss):.0f}",
                         f"{median(rss) / smallest:.2f}×", f"{median(rate):.0f}", f"{min(rate):.0f}–{max(rate):.0f}"])
    print_table(f"Peak RSS of `workbench run` (whole process, 0 ms server, concurrency {args.concurrency}, "
                f"median of {args.repeat}, every result committed)",
                ["tree", "records", "peak RSS MB", "min–max MB", f"vs {sizes[0]:,}", "rec/s", "min–max rec/s"],
                rows)
    for size, d in dirs.items():
        if str(size) not in given:
            subprocess.run(["rm", "-rf", str(d)], check=True)
    print(f"\n(peak RSS of this driver: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()

"""200K (or 1M) records × 3 models: import, the grid API, counts, exports, server memory, the live socket.

    .venv/bin/python bench/scale_bench.py [--records 200000] [--repeat 7] [--postgres]
    .venv/bin/python bench/scale_bench.py --data-dir DIR   # a dataset built by testkit.scale.build
    WORKBENCH_DATABASE_URL=postgresql://... .venv/bin/python bench/scale_bench.py --data-dir DIR

Builds the dataset through the CLI (import), writes 3 models' results straight through the store
(with ~30% disagreement, 1% golden and 0.5% fixed answers), then measures a real `workbench serve`
over HTTP and the CLI's exports, each in its own process. Prints tables; not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from _util import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))
from testkit.scale import MODELS, populate, rewrite_results  # noqa: E402

def timed_process(args: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak RSS MB) of a command run as its own process."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", wrapper, *args], env=env, capture_output=True, text=True, check=True)
    seconds, rss = out.stdout.split()
    return float(seconds), float(rss)


def get_each(url: str, repeat: int) -> tuple[list[float], Any]:
    """Milliseconds of each of ``repeat`` GETs of ``url``, and the last answer."""
    times, body = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as r:
            body = json.loads(r.read())
        times.append((time.perf_counter() - t) * 1000)
    return times, body


def get_ms(url: str, repeat: int) -> tuple[float, Any]:
    times, body = get_each(url, repeat)
    return statistics.median(times), body


@contextlib.contextmanager
def serving(env: dict, data_dir: Path, *flags: str):
    """``workbench serve`` on a free port for the block: yields (process, base URL)."""
    sys.path.insert(0, str(ROOT))
    from testkit.net import free_port, wait_for_http

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port), "--data-dir",
                             str(data_dir), *flags], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(data_dir.parent / "serve.log", "w"))
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/health", 60, proc)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    """The process's highest RSS so far (VmHWM)."""
    return rss_mb(pid, "VmHWM")


def live_socket(base: str, settings, dataset_id: str, seconds: float = 5.0, rate: int = 1000) -> dict:
    """Results written at `rate`/s by another writer; what a socket client receives, and how late."""
    import websockets

    from workbench.store.runs import list_runs
    from workbench.service.workspace import open_workspace

    store = open_workspace(settings)
    run = next(r for r in list_runs(store, dataset_id=dataset_id) if r.model_id == MODELS[0])
    stop = threading.Event()
    written_at: dict[int, float] = {}

    def writer():
        # Re-write existing rows' events: results of a pretend run over the same records at `rate`/s.
        seq, tick = 1, 0.1
        while not stop.is_set():
            started = time.monotonic()
            seqs = range(seq, seq + int(rate * tick))
            for s in seqs:
                written_at[s] = time.time()
            rewrite_results(store, run, seqs)
            seq += len(seqs)
            time.sleep(max(0.0, tick - (time.monotonic() - started)))

    async def client() -> tuple[int, list[float], int]:
        frames, delays, results = 0, [], 0
        async with websockets.connect(base.replace("http", "ws") + "/api/workbench/live") as ws:
            thread = threading.Thread(target=writer, daemon=True)
            thread.start()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 1.0))
                except asyncio.TimeoutError:
                    continue
                now = time.time()
                frames += 1
                for m in frame["messages"]:
                    if m["type"] == "result":
                        results += len(m["items"])
                        delays += [now - written_at[i["seq"]] for i in m["items"] if i["seq"] in written_at]
            stop.set()
            thread.join()
        return frames, delays, results

    # The writer reuses seqs of a completed run: insert-ignore keeps the table as it is, and the
    # events still flow, which is what the socket sees.
    frames, delays, results = asyncio.run(client())
    store.close()
    delays.sort()
    return {"frames_per_s": frames / seconds, "results_per_s": results / seconds,
            "median_delay_s": statistics.median(delays) if delays else None,
            "p95_delay_s": delays[int(len(delays) * 0.95)] if delays else None}


def drop_saved_marks(settings) -> None:
    """Forget the grid's saved marks (store/mark_snapshots.py): the next first request scans."""
    from workbench.service.workspace import open_workspace
    from workbench.store.schema import mark_snapshots

    with contextlib.closing(open_workspace(settings)) as store, store.engine.begin() as conn:
        conn.execute(mark_snapshots.delete())


def wait_for_saved_marks(settings, count: int, timeout: float = 30.0) -> None:
    """Until ``count`` selections' marks are saved (a server saves them in the background after a scan)."""
    from workbench.service.workspace import open_workspace
    from workbench.store.schema import mark_snapshots

    import sqlalchemy as sa

    deadline = time.monotonic() + timeout
    with contextlib.closing(open_workspace(settings)) as store:
        while time.monotonic() < deadline:
            with store.engine.connect() as conn:
                if conn.execute(sa.select(sa.func.count()).select_from(mark_snapshots)).scalar() >= count:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"the server saved fewer than {count} selections' marks in {timeout:.0f} s")


def targets(records: int) -> dict[str, str]:
    """The issue's targets for this size: 200K's (README "Speed"), and #17's from 1M on."""
    if records >= 1_000_000:
        return {"import": "≤ 40 s", "export": "≤ 40 s", "page": "≤ 50 ms", "counts": "≤ 300 ms",
                "first scan": "≤ 1 s", "rss": "≤ 400 MB"}
    return {"import": "≤ 10 s", "export": "≤ 10 s", "page": "≤ 50 ms", "counts": "≤ 300 ms",
            "first scan": "≤ 300 ms", "rss": "≤ 300 MB"}


def keep(rows: list[list[str]], row: list[str]) -> None:
    """Add ``row`` to a table, and show it at once (a 1M run takes a while)."""
    rows.append(row)
    print("  ".join(row), flush=True)


def spread(times: list[float]) -> str:
    return f"n={len(times)}, {min(times):.0f}–{max(times):.0f} ms"


def timed_import(cli: list[str], env: dict, records: int, work: Path, data_dir: Path,
                 source: Path | None = None) -> tuple[float, float]:
    """Seconds and peak RSS of ``workbench import`` of ``records`` synthetic records (or of ``source``)
    into ``data_dir``."""
    from testkit.synthetic import write_jsonl

    if source is None:
        source = work / "candidates.jsonl"
        write_jsonl(source, records)
    return timed_process([*cli, "import", str(source), "--name", "big", "--data-dir", str(data_dir)], env)


def scratch_database(url: str) -> str:
    """A new empty database on the server of ``url`` (a timed import's, when measuring a built one)."""
    from testkit.postgres import create_database

    return create_database(url.rsplit("/", 1)[0] + "/postgres")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--first-runs", type=int, default=9, help="servers started to time first requests")
    parser.add_argument("--postgres", action="store_true", help="use a throwaway PostgreSQL server")
    parser.add_argument("--data-dir", type=Path, help="measure the dataset 'big' already built there "
                        "(testkit.scale.build) instead of building one; with WORKBENCH_DATABASE_URL set, "
                        "its PostgreSQL database. The import row is then a timed import of as many "
                        "records into a scratch store")
    parser.add_argument("--no-import", action="store_true", help="with --data-dir: skip the timed import")
    parser.add_argument("--import-source", type=Path, help="with --data-dir: the JSONL to time the import of "
                        "(the one the dataset was built from; writing 1M records anew takes minutes)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from workbench.config import Settings
    from workbench.store.datasets import get_dataset
    from workbench.store.runs import list_runs
    from workbench.service.workspace import open_workspace

    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="wb-scale-"))
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        reused = args.data_dir is not None
        if not reused:
            env.pop("WORKBENCH_DATABASE_URL", None)
        if args.postgres and not reused:
            from testkit.postgres import create_database, postgres_server, wait_ready

            server = stack.enter_context(postgres_server())
            wait_ready(server)
            env["WORKBENCH_DATABASE_URL"] = create_database(server)
        store_name = "PostgreSQL" if env.get("WORKBENCH_DATABASE_URL") else "SQLite"
        os.environ.update({k: v for k, v in env.items() if k.startswith("WORKBENCH_")})
        data_dir = args.data_dir or work / "data"
        settings = Settings.load(data_dir=data_dir, database_url=env.get("WORKBENCH_DATABASE_URL"))
        cli = [sys.executable, "-m", "workbench"]
        if reused:
            with contextlib.closing(open_workspace(settings)) as store:
                records = get_dataset(store, "big").record_count
            imported = None  # timed at the end, into a scratch store
        else:
            records = args.records
            imported = timed_import(cli, env, records, work, data_dir)
            started = time.perf_counter()
            populate(settings, "big")
            print(f"(populated 3 × {records:,} results in {time.perf_counter() - started:.0f} s)")
        target = targets(records)

        selection = f"/api/workbench?dataset_id=big&models={','.join(MODELS)}&limit=50"
        # The per-record marks behind the counts and the contested order are built by one scan the
        # first time a selection is asked about, saved in the database (grid/marks.py) and kept
        # current. So each first request is measured on a server just started without its warm-up
        # (which would have built the counts' marks already): with no saved marks (a scan: the
        # first time ever), then with the marks saved (a restart, or another replica), the median
        # over several ...
        firsts: dict[str, list[float]] = {"counts": [], "contested": [], "saved counts": [], "saved contested": [],
                                          "warmed": []}
        scan_peaks = []
        for _ in range(args.first_runs):
            drop_saved_marks(settings)
            with serving(env, data_dir, "--no-warm-up") as (proc, base):
                firsts["counts"].append(get_ms(base + selection + "&limit=1", 1)[0])
                firsts["contested"].append(get_ms(base + selection + "&sort=disagreement&counts=false", 1)[0])
                scan_peaks.append(peak_rss_mb(proc.pid))
                wait_for_saved_marks(settings, 2)
        for _ in range(args.first_runs):
            with serving(env, data_dir, "--no-warm-up") as (_, base):
                firsts["saved counts"].append(get_ms(base + selection + "&limit=1", 1)[0])
                firsts["saved contested"].append(get_ms(base + selection + "&sort=disagreement&counts=false", 1)[0])
        for _ in range(args.first_runs):  # ... and with it, as when someone opens the page after a start
            drop_saved_marks(settings)
            with serving(env, data_dir) as (_, base):
                time.sleep(2)
                firsts["warmed"].append(get_ms(base + selection + "&limit=1", 1)[0])
        page_rows = []
        for label, key, target_name in [
                ("filter counts, first request for a selection, no marks saved (one scan)", "counts", "first scan"),
                ("most contested first, first request for a selection, no marks saved (one scan)", "contested",
                 "first scan"),
                ("filter counts, first request of a server started anew (marks saved)", "saved counts", "first scan"),
                ("most contested first, first request of a server started anew (marks saved)", "saved contested",
                 "first scan"),
                ("filter counts, first request 2 s after a start, no marks saved (warm-up)", "warmed", "counts")]:
            keep(page_rows, [label, f"{statistics.median(firsts[key]):.0f} ms", spread(firsts[key]),
                             target[target_name]])
        keep(page_rows, ["peak RSS of a server through those two scans", f"{statistics.median(scan_peaks):.0f} MB",
                         f"n={len(scan_peaks)}, {min(scan_peaks):.0f}–{max(scan_peaks):.0f} MB", target["rss"]])
        deep = records * 3 // 4
        with serving(env, data_dir) as (proc, base):
            q = base + selection
            get_ms(q + "&limit=1", 1)  # the scans, measured above
            get_ms(q + "&sort=disagreement&counts=false", 1)
            for name, extra in [("first page", ""), (f"deep page (cursor {deep})", f"&cursor={deep}"),
                                ("differences", "&filter=differences"), ("golden", "&filter=golden"),
                                ("needs review", "&filter=needs_review"), ("fixed", "&filter=fixed"),
                                ("unreviewed", "&filter=unreviewed"),
                                ("text search 'Airbnb'", "&q=Airbnb"),
                                ("text search 'Airbnb', differences", "&q=Airbnb&filter=differences"),
                                ("most contested first, later requests", "&sort=disagreement"),
                                ("most contested first, deep page", f"&sort=disagreement&cursor=1:{deep // 2}")]:
                times, body = get_each(q + extra + "&counts=false", args.repeat)
                keep(page_rows, [name, f"{statistics.median(times):.0f} ms",
                                  f"{spread(times)}, {len(body['results'])} rows", target["page"]])
            times, body = get_each(q + "&limit=1", args.repeat)
            keep(page_rows, ["filter counts, unchanged data", f"{statistics.median(times):.0f} ms",
                              spread(times) + "; " + ", ".join(f"{k} {v}" for k, v in body["counts"].items()),
                              target["counts"]])
            times = []
            for i in range(args.repeat):  # a change (an annotation) in between: counted afresh
                note = json.dumps({"dataset_id": "big", "record_id": f"cand-{i + 1:06d}", "field": "note",
                                   "value": f"bench {time.time()}"}).encode()
                urllib.request.urlopen(urllib.request.Request(f"{base}/api/annotations", note,
                                                              {"Content-Type": "application/json",
                                                               "X-Workbench-Client": "bench"})).read()
                times.append(get_ms(q + "&limit=1", 1)[0])
            keep(page_rows, ["filter counts after an annotation", f"{statistics.median(times):.0f} ms",
                              spread(times), target["counts"]])
            times = []
            with contextlib.closing(open_workspace(settings)) as store:
                run = next(r for r in list_runs(store, dataset_id="big") if r.model_id == MODELS[0])
                for i in range(args.repeat):  # results landing, as in a run: only those records are recounted
                    rewrite_results(store, run, range(1 + 50 * i, 51 + 50 * i))
                    times.append(get_ms(q + "&limit=1", 1)[0])
            keep(page_rows, ["filter counts after 50 new results", f"{statistics.median(times):.0f} ms",
                              spread(times), target["counts"]])
            server_rss = rss_mb(proc.pid)
            peak_rss = peak_rss_mb(proc.pid)
            print(f"server RSS {server_rss:.0f} MB, peak {peak_rss:.0f} MB", flush=True)
            live = live_socket(base, settings, "big")

        export_rows = []
        for kind, fmt in [("results", "csv"), ("results", "parquet"), ("training", "jsonl"), ("golden", "jsonl")]:
            out = work / f"export.{kind}.{fmt}"
            seconds, rss = timed_process([*cli, "export", "--dataset", "big", "--kind", kind, "--format", fmt, "-o",
                                          str(out), "--data-dir", str(data_dir)], env)
            out.unlink(missing_ok=True)
            keep(export_rows, [f"export {kind} {fmt}", f"{seconds:.1f} s", f"peak RSS {rss:.0f} MB",
                                target["export"]])

        if reused and not args.no_import:  # as many records into a scratch store: the import row stays honest
            scratch_env = dict(env)
            if store_name == "PostgreSQL":
                scratch_env["WORKBENCH_DATABASE_URL"] = scratch_database(env["WORKBENCH_DATABASE_URL"])
            imported = timed_import(cli, scratch_env, records, work, work / "scratch", args.import_source)
        label = "200K" if records == 200_000 else f"{records:,}"
        rows = [[f"import {label} JSONL" + ("" if not reused else " (into a scratch store)"),
                 f"{imported[0]:.1f} s" if imported else "not measured", f"peak RSS {imported[1]:.0f} MB"
                 if imported else "", target["import"]]]

    print_table(f"Import ({store_name})", ["what", "time", "memory", "target"], rows)
    print_table(f"GET /api/workbench, 3 models × {records:,} records ({store_name}, median of {args.repeat})",
                ["query", "median", "spread, result", "target"], page_rows)
    print_table(f"Exports ({store_name})", ["what", "time", "memory", "target"], export_rows)
    print_table(f"Server and live socket ({store_name})", ["what", "figure", "target"], [
        ["server RSS with the dataset loaded and queried (now / peak)", f"{server_rss:.0f} / {peak_rss:.0f} MB",
         target["rss"]],
        ["socket frames/s to one client at 1,000 results/s", f"{live['frames_per_s']:.1f}", "≤ ~10"],
        ["results/s delivered", f"{live['results_per_s']:.0f}", "all of them"],
        ["delay result → client, median / p95",
         f"{live['median_delay_s']:.2f} s / {live['p95_delay_s']:.2f} s" if live["median_delay_s"] else "–", "≤ 1 s"],
    ])
    subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()

"""`workbench run` against the floor: a hand-written asyncio + aiohttp loop, both as whole processes.

    .venv/bin/python bench/floor_bench.py [--repeat 5] [--records 2000] [--big 20000]

Each measure is a fresh process, timed from its start to its exit by this driver:
(a) the loop: python start, aiohttp import, the same request bodies the workbench sends (its rendered
    messages and response_format, read from a file), concurrency 50, no persistence, no parsing;
(b) `python -m workbench run --dataset D --model M` on a fresh copy of a prepared data dir, checked
    afterwards: every record has a committed result (else the bench stops).
The fake server (testkit/fake_openai.py) runs in its own process, one per latency. The two are
interleaved (loop, workbench, loop, workbench, ...) so the shared machine's noise falls on both.
A last table (--timeline N, at 100 ms) splits each process's time by the fake server's clock: from
its start to its first request, from there to its last answer, and from there to its exit.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import ROOT, compile_package, fake_server, machine, median, print_table

CONCURRENCY = 50

LOOP = r"""
import asyncio, sys
import aiohttp, orjson

async def main(bodies):
    pending = iter(bodies)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async def worker():
            for body in pending:  # the workers share one iterator: each body is sent once
                async with session.post(URL, data=orjson.dumps(body), headers=headers) as response:
                    response.raise_for_status()
                    await response.read()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

URL = sys.argv[1] + "/chat/completions"
CONCURRENCY = int(sys.argv[3])
with open(sys.argv[2], "rb") as fh:
    asyncio.run(main(orjson.loads(fh.read())))
"""


def prepare(count: int, urls: dict[str, str]) -> tuple[Path, str, dict[str, Path]]:
    """A data dir with ``count`` records and one model per latency; and, per latency, the request
    bodies the workbench will send (so the loop sends the same)."""
    import orjson

    from testkit.synthetic import write_jsonl
    from workbench.config import Settings
    from workbench.domain.models import build_model
    from workbench.domain.tasks import DEFAULT_TASK
    from workbench.providers.base import Request
    from workbench.providers.openai import OpenAIProvider
    from workbench.runner.asking import prompt_messages
    from workbench.service.workspace import open_workspace
    from workbench.store.datasets import import_dataset
    from workbench.store.models import save_model
    from workbench.store.tasks import get_task

    data_dir = Path(tempfile.mkdtemp(prefix=f"wb-floor-{count}-"))
    source = data_dir.parent / f"{data_dir.name}.jsonl"
    write_jsonl(source, count)
    store = open_workspace(Settings.load(data_dir=data_dir))
    dataset = import_dataset(store, source)
    task = get_task(store, DEFAULT_TASK)
    with open(source, "rb") as fh:
        records = [orjson.loads(line) for line in fh]
    bodies = {}
    for name, url in urls.items():
        model = save_model(store, build_model({"id": name, "provider": "openai", "base_url": url, "model": name,
                                               "structured_output": "json_schema",
                                               "max_concurrency": CONCURRENCY}))
        provider = OpenAIProvider(model)
        sent = [provider._body(Request(prompt_messages(task, str(i), record, []), schema=task.output_schema),
                               "json_schema") for i, record in enumerate(records)]
        bodies[name] = data_dir.parent / f"{data_dir.name}-{name}.json"
        bodies[name].write_bytes(orjson.dumps(sent))
    store.close()
    source.unlink()
    return data_dir, dataset.id, bodies


CPU: dict[str, list[float]] = {}  # CPU seconds (user + system) of each measured process, by what it was


TIMELINE: dict[str, list[tuple[float, float, float]]] = {}  # what -> (to first request, asking, to exit)


def timed(argv: list[str], what: str, timeline_url: str | None = None, **kwargs) -> float:
    """Wall seconds of the process; its CPU seconds go to CPU[what], and with ``timeline_url`` (the
    fake server it asks) its phases to TIMELINE[what]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if timeline_url:
        _reset_server_stats(timeline_url)
    began, started = time.time(), time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    seconds = time.perf_counter() - started
    if timeline_url:
        stats = _server_stats(timeline_url)
        TIMELINE.setdefault(what, []).append((stats["first_request_at"] - began,
                                              stats["last_answer_at"] - stats["first_request_at"],
                                              began + seconds - stats["last_answer_at"]))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(what, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return seconds


def _reset_server_stats(url: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{url.removesuffix('/v1')}/control", data=b'{"reset_stats": true}',
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def _server_stats(url: str) -> dict:
    import json
    import urllib.request

    return json.loads(urllib.request.urlopen(f"{url.removesuffix('/v1')}/stats", timeout=10).read())


def run_loop(url: str, bodies: Path, what: str, timeline: bool = False) -> float:
    return timed([sys.executable, "-c", LOOP, url, str(bodies), str(CONCURRENCY)], what,
                 timeline_url=url if timeline else None)


def run_workbench(data_dir: Path, dataset_id: str, model: str, count: int, what: str,
                  timeline_url: str | None = None) -> float:
    work = Path(tempfile.mkdtemp(prefix="wb-floor-run-"))
    subprocess.run(["cp", "-r", f"{data_dir}/.", str(work)], check=True)
    env = {**os.environ, "COLUMNS": "100"}
    env.pop("WORKBENCH_DATABASE_URL", None)
    try:
        seconds = timed([sys.executable, "-m", "workbench", "run", "--dataset", dataset_id, "--model", model,
                         "--data-dir", str(work)], what, cwd=ROOT, env=env, timeline_url=timeline_url)
        with sqlite3.connect(work / "workbench.db") as conn:
            ok = conn.execute("SELECT count(*) FROM results WHERE status = 'ok'").fetchone()[0]
        assert ok == count, f"only {ok} of {count} results committed"
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=True)
    return seconds


def row(label: str, count: int, loop: list[float], workbench: list[float], what: str) -> list[str]:
    def spread(times: list[float]) -> str:
        return f"{median(times):.2f} ({min(times):.2f}–{max(times):.2f})"

    ratio = median(workbench) / median(loop)
    loop_cpu, wb_cpu = median(CPU[f"loop {what}"]), median(CPU[f"wb {what}"])
    return [label, f"{count:,}", spread(loop), spread(workbench), f"{ratio:.3f}", f"{1 / ratio:.2f}",
            f"{loop_cpu:.2f}", f"{wb_cpu:.2f}", f"{(wb_cpu - loop_cpu) * 1000 / count:.3f}"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--big", type=int, default=20000, help="records of the 0 ms row with start-up amortised "
                                                               "(0: skip it)")
    parser.add_argument("--timeline", type=int, default=3, help="processes of each timed by phase at 100 ms")
    args = parser.parse_args()
    compile_package()
    print(f"machine: {machine()}; the workbench's modules byte-compiled, as installed")
    rows = []
    with fake_server("--latency-ms", "100") as slow, fake_server("--latency-ms", "0") as fast:
        urls = {"lat100": slow, "lat0": fast}
        data_dir, dataset_id, bodies = prepare(args.records, urls)
        small = (data_dir, dataset_id, bodies["lat100"])  # for the timeline, after the big row
        times: dict[str, list[float]] = {f"{k}-{m}": [] for k in ("loop", "wb") for m in urls}
        for _ in range(args.repeat):
            for model, url in urls.items():
                times[f"loop-{model}"].append(run_loop(url, bodies[model], f"loop {model}"))
                times[f"wb-{model}"].append(run_workbench(data_dir, dataset_id, model, args.records, f"wb {model}"))
        rows.append(row("100 ms", args.records, times["loop-lat100"], times["wb-lat100"], "lat100"))
        rows.append(row("0 ms", args.records, times["loop-lat0"], times["wb-lat0"], "lat0"))
        if args.big:
            data_dir, dataset_id, bodies = prepare(args.big, {"lat0": fast})
            loop, workbench = [], []
            for _ in range(args.repeat):
                loop.append(run_loop(fast, bodies["lat0"], "loop big"))
                workbench.append(run_workbench(data_dir, dataset_id, "lat0", args.big, "wb big"))
            rows.append(row("0 ms", args.big, loop, workbench, "big"))
        for _ in range(args.timeline):
            run_loop(slow, small[2], "loop timeline", timeline=True)
            run_workbench(small[0], small[1], "lat100", args.records, "wb timeline", timeline_url=slow)
    print_table(f"workbench run vs a hand-written aiohttp loop, whole processes, concurrency {CONCURRENCY}, "
                f"interleaved, median (min–max) of {args.repeat}, seconds",
                ["latency", "records", "loop s", "workbench run s", "wb/loop time", "wb/loop throughput",
                 "loop CPU s", "wb CPU s", "extra CPU ms/rec"], rows)
    print("targets: at 100 ms wb/loop time <= 1.05; at 0 ms wb/loop throughput >= 0.70")
    if TIMELINE:
        def phases(what: str) -> list[str]:
            spans = TIMELINE[what]
            return [f"{median([s[i] for s in spans]):.3f} ({min(s[i] for s in spans):.3f}–"
                    f"{max(s[i] for s in spans):.3f})" for i in range(3)]
        print_table(f"where the time goes at 100 ms, {args.records:,} records, median (min–max) of {args.timeline}, "
                    "seconds by the fake server's clock",
                    ["process", "start → first request", "first request → last answer", "last answer → exit"],
                    [["loop", *phases("loop timeline")], ["workbench run", *phases("wb timeline")]])
    print(f"(peak RSS of this driver: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()

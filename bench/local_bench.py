"""The embedded model (`local`, SmolLM2-135M through llama-cpp-python) against llama.cpp called directly.

    .venv/bin/python bench/local_bench.py [--repeat 5] [--records 8] [--page]

On the demo's task (candidate-screening over the bundled sample), each a process of its own,
interleaved (direct, runner, whole process, direct with 2 prompt threads, ...):

- direct: ``Llama(n_threads=1, n_threads_batch=1)`` and ``create_chat_completion`` with the messages
  the runner renders (its own ``prompt_messages``), the schema as ``response_format`` and the model's
  default sampling, as local.py sends them; records/s over the calls (the load not counted);
- direct, 2 prompt threads: the same with llama-cpp-python's default ``n_threads_batch`` (one per
  core), what local.py used before: the cause of the gap;
- runner: ``RunManager`` in-process on a copy of a demo data dir, the model loaded before the clock
  starts (records/s excluding start-up; every result committed);
- workbench run: the whole ``workbench run --model smollm2`` process (records/s including start-up).

``--page`` also times the demo page in Chromium: a fresh ``workbench serve --demo`` each time, from the
Run click to the first smollm2 answer in the grid.

The machine is shared: the load average is printed beside each table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import ROOT, machine, median, print_table

WB = [sys.executable, "-m", "workbench"]

DIRECT = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from llama_cpp import Llama
from workbench.domain.models import ModelParams
from workbench.domain.tasks import BUILTIN_TASKS, DEFAULT_TASK
from workbench.providers.local import bundled_model_path
from workbench.runner.asking import prompt_messages
from workbench.service.samples import sample_path

task = BUILTIN_TASKS[DEFAULT_TASK]
records = [json.loads(line) for line in open(sample_path())][:{records}]
messages = [prompt_messages(task, r["id"], r, []) for r in records]
started = time.perf_counter()
llm = Llama(model_path=str(bundled_model_path()), n_ctx=4096, n_threads=1, n_threads_batch={threads_batch},
            n_batch=512, verbose=False)
loaded, cpu = time.perf_counter(), time.process_time()
tokens_in = tokens_out = 0
schema_format = {{"type": "json_object", "schema": task.output_schema}}
for m in messages:
    out = llm.create_chat_completion(messages=m, response_format=schema_format, **ModelParams().sampling())
    json.loads(out["choices"][0]["message"]["content"])
    tokens_in += out["usage"]["prompt_tokens"]
    tokens_out += out["usage"]["completion_tokens"]
done = time.perf_counter()
print(json.dumps({{"calls_s": done - loaded, "cpu_s": time.process_time() - cpu, "load_s": loaded - started,
                  "tokens_in": tokens_in, "tokens_out": tokens_out,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
llm.close()
"""

RUNNER = r"""
import asyncio, json, resource, sys, time
sys.path.insert(0, {root!r})
import sqlalchemy as sa
from workbench.config import Settings
from workbench.providers import local
from workbench.runner.manager import RunManager
from workbench.runner.options import RunOptions
from workbench.service.runs import start_runs
from workbench.service.workspace import open_workspace
from workbench.store.models import get_model

store = open_workspace(Settings.load(data_dir={data_dir!r}))
provider = local.LocalProvider(get_model(store, "smollm2"))
local._load(local.bundled_model_path(), provider.n_ctx, provider.n_threads)  # start-up, not timed here
runs = start_runs(store, {dataset!r}, ["smollm2"], options=RunOptions(limit={records}, fresh=True))
started, cpu = time.perf_counter(), time.process_time()
final = asyncio.run(RunManager(store).execute([r.id for r in runs]))
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
with store.engine.connect() as conn:
    ok, tin, tout = conn.execute(sa.text("SELECT count(*), sum(tokens_in), sum(tokens_out) FROM results "
                                         "WHERE run_id = :r AND status = 'ok'"), {{"r": runs[0].id}}).one()
print(json.dumps({{"calls_s": elapsed, "cpu_s": cpu, "ok": ok, "status": final[runs[0].id], "tokens_in": tin,
                  "tokens_out": tout, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def child(code: str) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["wall_s"] = time.perf_counter() - started
    return figures


def demo_dir() -> tuple[Path, str]:
    """A data dir set up as `serve --demo` does, and the demo dataset's id."""
    from workbench.config import Settings
    from workbench.service.workspace import ensure_demo, open_workspace

    data_dir = Path(tempfile.mkdtemp(prefix="wb-local-demo-"))
    store = open_workspace(Settings.load(data_dir=data_dir))
    dataset = ensure_demo(store).id
    store.close()
    return data_dir, dataset


def copy_of(data_dir: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix="wb-local-run-"))
    shutil.copytree(data_dir, work, dirs_exist_ok=True)
    return work


def direct(records: int, threads_batch: int) -> dict:
    return child(DIRECT.format(root=str(ROOT), records=records, threads_batch=threads_batch))


def runner(base: Path, dataset: str, records: int) -> dict:
    work = copy_of(base)
    try:
        figures = child(RUNNER.format(root=str(ROOT), data_dir=str(work), dataset=dataset, records=records))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert figures["ok"] == records and figures["status"] == "completed", figures
    return figures


def whole_run(base: Path, dataset: str, records: int) -> dict:
    work = copy_of(base)
    try:
        started = time.perf_counter()
        subprocess.run([*WB, "run", "--dataset", dataset, "--model", "smollm2", "--limit", str(records), "--fresh",
                        "--data-dir", str(work)], check=True, cwd=ROOT, capture_output=True)
        wall = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"wall_s": wall}


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def throughput(args: argparse.Namespace) -> None:
    base, dataset = demo_dir()
    kinds = ("direct", "runner", "workbench run", "direct, 2 prompt threads")
    seen: dict[str, list[dict]] = {k: [] for k in kinds}
    loads = []
    for i in range(args.repeat):
        loads.append(load())
        seen["direct"].append(direct(args.records, 1))
        seen["runner"].append(runner(base, dataset, args.records))
        seen["workbench run"].append(whole_run(base, dataset, args.records))
        if not args.no_cause:
            seen["direct, 2 prompt threads"].append(direct(args.records, 2))
        rates = ", ".join(f"{k} {args.records / v[-1].get('calls_s', v[-1]['wall_s']):.3f}"
                          for k, v in seen.items() if v)
        print(f"round {i + 1}/{args.repeat} (load {loads[-1]}): rec/s {rates}", file=sys.stderr, flush=True)
    n = args.records
    rate = {k: [n / f["calls_s"] for f in v] for k, v in seen.items() if v and "calls_s" in v[0]}
    with_start = {k: [n / f["wall_s"] for f in v] for k, v in seen.items() if v}
    ref = median(rate["direct"])
    rows = []
    for kind in kinds:
        if not seen[kind]:
            continue
        figs = seen[kind]
        tin = [f["tokens_in"] / n for f in figs if "tokens_in" in f]
        tout = [f["tokens_out"] for f in figs if "tokens_out" in f]
        tok_s = [(f["tokens_in"] + f["tokens_out"]) / f["calls_s"] for f in figs if "tokens_in" in f]
        rows.append([kind,
                     spread(rate[kind]) if kind in rate else "-",
                     f"{median(rate[kind]) / ref:.2f}" if kind in rate else "-",
                     spread(with_start[kind]),
                     spread(tok_s, "{:.0f}") if tok_s else "-",
                     f"{median(tin):.0f}" if tin else "-",
                     f"{median(tout) / n:.0f}" if tout else "-",
                     spread([f["cpu_s"] / n for f in figs]) if "cpu_s" in figs[0] else "-",
                     f"{median([f['rss_mb'] for f in figs]):.0f}" if "rss_mb" in figs[0] else "-"])
    print_table(f"1. demo task, {n} records, SmolLM2-135M Q4_1, one thread; median (min–max) of {args.repeat}, "
                f"interleaved; load average at each round: {'; '.join(loads)}",
                ["", "rec/s (no start-up)", "÷ direct", "rec/s (whole process)", "tokens/s (in+out)",
                 "prompt tok/rec", "out tok/rec", "CPU s/rec", "peak RSS MB"], rows)
    shutil.rmtree(base, ignore_errors=True)


CHROMIUM = "/usr/bin/chromium"
# A grid column is keyed by its run ("run:1"); the smollm2 one is told by its buttons' labels.
FIRST_ANSWER = ("[...document.querySelectorAll('.row .cell')].find((c) => c.querySelector('.verdict')"
                " && c.querySelector('[aria-label*=\"SmolLM2\"]')) || null")


def cpu_s(pid: int) -> float:
    """CPU seconds a process has had (user + system, all its threads): its work, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_answer_after_run(browser, root: Path = ROOT, wait_s: float = 0.0) -> tuple[float, float]:
    """Seconds from the Run click to the first smollm2 answer in the grid, on a fresh `serve --demo`;
    Run pressed wait_s after the server answered (0: as soon as the page shows the demo's models
    picked, so a warm-up at start has had the least time); and the server's CPU seconds meanwhile."""
    from testkit.net import free_port, wait_for_http

    data_dir = Path(tempfile.mkdtemp(prefix="wb-local-page-"))
    port = free_port()
    proc = subprocess.Popen([*WB, "serve", "--demo", "--port", str(port), "--data-dir", str(data_dir)], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/health", 60, proc)
        up = time.perf_counter()
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}")
        page.wait_for_selector("input[data-model=smollm2]:checked")
        page.wait_for_selector("input[data-model=baseline]:checked")
        assert page.evaluate(FIRST_ANSWER) is None
        time.sleep(max(0.0, up + wait_s - time.perf_counter()))
        started, cpu = time.perf_counter(), cpu_s(proc.pid)
        page.click("#run-selected")
        page.wait_for_function(f"{FIRST_ANSWER} !== null", timeout=300_000, polling=20)
        return time.perf_counter() - started, cpu_s(proc.pid) - cpu
    finally:
        context.close()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)


def page(args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    variants = {"as committed": ROOT}
    if args.page_with:  # e.g. a copy of the package with a patch applied, to compare in one run
        variants[args.page_with] = Path(args.page_with)
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    loads = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        for i in range(args.repeat):
            loads.append(load())
            for name, root in variants.items():
                wall, cpu = first_answer_after_run(browser, root, args.page_wait)
                times[name].append(wall)
                cpus[name].append(cpu)
                print(f"page {i + 1}/{args.repeat} {name}: {wall:.2f} s, server CPU {cpu:.2f} s (load {loads[-1]})",
                      file=sys.stderr, flush=True)
        browser.close()
    print_table(f"2. `workbench serve --demo` in Chromium: Run click to the first smollm2 answer in the grid, "
                f"Run pressed {args.page_wait:g} s after the server is up (at the soonest the page is ready), "
                f"a fresh server each; median (min–max) of {args.repeat}, interleaved; load: {'; '.join(loads)}",
                ["server", "seconds", "server CPU s", "target"],
                [[name, spread(t), spread(cpus[name]), "≤ 5 s"] for name, t in times.items()])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--records", type=int, default=8)
    parser.add_argument("--page", action="store_true", help="also time the demo page in Chromium")
    parser.add_argument("--page-only", action="store_true")
    parser.add_argument("--page-with", metavar="DIR",
                        help="also time a server from DIR/workbench (e.g. a patched copy), interleaved")
    parser.add_argument("--page-wait", type=float, default=0.0, metavar="S",
                        help="press Run S seconds after the server is up (default: as soon as the page is ready)")
    parser.add_argument("--no-cause", action="store_true", help="skip the 2-prompt-thread direct runs")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if not args.page_only:
        throughput(args)
    if args.page or args.page_only:
        page(args)


if __name__ == "__main__":
    main()

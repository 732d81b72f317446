"""The runner's own profile: CPU milliseconds per record by phase, for a whole `workbench run`.

    .venv/bin/python bench/runner_phases.py [--records 2000] [--repeat 5] [--latency-ms 0]

Each repeat is a fresh process running the real CLI (`workbench run`, in-process through click) on a
fresh copy of a prepared data dir, against the fake server in its own process. The bench wraps the
runner's functions from outside (nothing of this is in the runner itself) and adds up CPU time
(time.thread_time, so a phase in a worker thread counts that thread's CPU only):

  start-up   imports (the CLI, then the runner it loads lazily), store open (engine, migrations check,
             tasks sync), run prepare (start_runs), executor set-up
  render     Asker.prepare: the task's messages for a record (and its cache key when cacheable)
  request    the event loop's CPU not in any other phase: aiohttp send/receive, the provider, asyncio
  parse      the envelope (read_completion) and the answer (JSON out of the text, the row), less validate
  validate   Task.validation_errors: the schema check
  write      the writer's batches (results, counters, events; in its thread)
  read       pending_records and cached_answers: paging the records to ask, their cached answers (threads)
  tally      RunExecutor._record: figures and handing the row to the writer
  bars       the terminal progress bars
Figures are medians over the repeats; the spread is shown for the total.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import ROOT, fake_server, machine, median, print_table

PHASES = ("render", "request", "parse", "validate", "write", "read", "tally", "bars")


def child(data_dir: str, dataset_id: str, model: str) -> None:
    """One `workbench run` with the accumulators wrapped around the runner (runs in its own process)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    spent = dict.fromkeys(PHASES, 0.0)
    startup: dict[str, tuple[float, float]] = {}
    marks = [(wall0, cpu0)]

    def mark(name: str) -> None:
        now = (time.perf_counter(), time.process_time())
        startup[name] = (now[0] - marks[-1][0], now[1] - marks[-1][1])
        marks.append(now)

    import workbench.cli as cli
    mark("import workbench.cli")
    import workbench.runner.console
    import workbench.runner.executor as executor
    import workbench.service.runs as service_runs
    import workbench.service.workspace as workspace
    from workbench.domain.tasks import Task
    from workbench.providers import openai
    from workbench.runner import asking, writer
    mark("import the runner")

    def timed_sync(owner, name: str, phase: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[phase] += time.thread_time() - started
        setattr(owner, name, wrapper)

    def timed_startup(owners, name: str, label: str) -> None:
        original = getattr(owners[0], name)

        def wrapper(*args, **kwargs):
            mark(f"(before {name})")
            try:
                return original(*args, **kwargs)
            finally:
                mark(label)
        for owner in owners:  # the module's and any name imported from it
            if getattr(owner, name, None) is original:
                setattr(owner, name, wrapper)

    timed_sync(asking.Asker, "prepare", "render")
    timed_sync(openai, "read_completion", "parse")
    timed_sync(Task, "validation_errors", "validate")
    timed_sync(writer, "_write_batch", "write")
    timed_sync(executor, "pending_records", "read")
    timed_sync(executor, "cached_answers", "read")
    timed_sync(executor.RunExecutor, "_record", "tally")
    timed_sync(workbench.runner.console.RunBars, "update", "bars")
    timed_startup([workspace, cli], "open_workspace", "store open (engine, migrations check, tasks)")
    timed_startup([service_runs], "start_runs", "run prepare (start_runs)")

    answer_row = asking.Asker.answer_row

    async def timed_answer_row(self, *args, **kwargs):
        # Short answers are parsed without leaving the loop thread, so this thread's CPU is the phase's.
        started = time.thread_time()
        try:
            return await answer_row(self, *args, **kwargs)
        finally:
            spent["parse"] += time.thread_time() - started
    asking.Asker.answer_row = timed_answer_row

    loop_cpu = [0.0]
    execute = service_runs.InProcessRuns.execute

    async def timed_execute(self, *args, **kwargs):
        mark("executor set-up (InProcessRuns)")
        started = time.thread_time()
        try:
            return await execute(self, *args, **kwargs)
        finally:
            loop_cpu[0] = time.thread_time() - started
            mark("the run (all its threads)")
    service_runs.InProcessRuns.execute = timed_execute

    try:
        cli.main(["run", "--dataset", dataset_id, "--model", model, "--data-dir", data_dir], standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, f"workbench run exited with {exc.code}"
    mark("after the run (outcome, exit)")
    spent["parse"] -= spent["validate"]  # validation runs inside the answer's parse
    on_loop = spent["render"] + spent["parse"] + spent["validate"] + spent["tally"] + spent["bars"]
    spent["request"] = loop_cpu[0] - on_loop
    print(json.dumps({"phases": spent, "startup": startup, "cpu": time.process_time() - cpu0,
                      "wall": time.perf_counter() - wall0}))


def prepare(count: int, url: str) -> tuple[Path, str]:
    from testkit.synthetic import write_jsonl
    from workbench.config import Settings
    from workbench.domain.models import build_model
    from workbench.service.workspace import open_workspace
    from workbench.store.datasets import import_dataset
    from workbench.store.models import save_model

    data_dir = Path(tempfile.mkdtemp(prefix=f"wb-phases-{count}-"))
    source = data_dir.parent / f"{data_dir.name}.jsonl"
    write_jsonl(source, count)
    store = open_workspace(Settings.load(data_dir=data_dir))
    dataset = import_dataset(store, source)
    save_model(store, build_model({"id": "bench", "provider": "openai", "base_url": url, "model": "bench",
                                   "structured_output": "json_schema", "max_concurrency": 50}))
    store.close()
    source.unlink()
    return data_dir, dataset.id


def run_child(data_dir: Path, dataset_id: str, tree: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="wb-phases-run-"))
    subprocess.run(["cp", "-r", f"{data_dir}/.", str(work)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DATABASE_URL"}
    try:
        out = subprocess.run([sys.executable, __file__, "--child", str(tree), str(work), dataset_id, "bench"],
                             cwd=tree, env=env, capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"the run failed:\n{out.stderr[-3000:]}")
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        sys.path.insert(0, sys.argv[2])  # the tree whose workbench is measured
        child(*sys.argv[3:6])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-ms", default="0")
    parser.add_argument("--trees", default=str(ROOT),
                        help="comma-separated source trees to compare (A/B: their runs are interleaved)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    figures: dict[Path, list[dict]] = {tree: [] for tree in trees}
    with fake_server("--latency-ms", args.latency_ms) as url:
        data_dir, dataset_id = prepare(args.records, url)
        for _ in range(args.repeat):
            for tree in trees:
                figures[tree].append(run_child(data_dir, dataset_id, tree))
    for tree in trees:
        print(f"\n== {tree}")
        report(figures[tree], args)


def report(figures: list[dict], args: argparse.Namespace) -> None:
    n = args.records
    rows = []
    for phase in PHASES:
        per = [f["phases"][phase] * 1000 / n for f in figures]
        rows.append([phase, f"{median(per):.3f}", f"{min(per):.3f}–{max(per):.3f}"])
    in_run = [sum(f["phases"].values()) * 1000 / n for f in figures]
    rows.append(["sum of phases", f"{median(in_run):.3f}", f"{min(in_run):.3f}–{max(in_run):.3f}"])
    print_table(f"CPU ms per record by phase: {n:,} records, concurrency 50, server latency {args.latency_ms} ms "
                f"(median of {args.repeat}, min–max)", ["phase", "CPU ms/record", "spread"], rows)
    rows = []
    for step in figures[0]["startup"]:
        wall = [f["startup"][step][0] * 1000 for f in figures]
        cpu = [f["startup"][step][1] * 1000 for f in figures]
        rows.append([step, f"{median(wall):.0f}", f"{median(cpu):.0f}", f"{min(wall):.0f}–{max(wall):.0f}"])
    wall = [f["wall"] for f in figures]
    cpu = [f["cpu"] for f in figures]
    rows.append(["whole process (python start not included)", f"{median(wall) * 1000:.0f}",
                 f"{median(cpu) * 1000:.0f}", f"{min(wall) * 1000:.0f}–{max(wall) * 1000:.0f}"])
    print_table("Steps of the process, in order (ms)", ["step", "wall ms", "CPU ms", "wall spread"], rows)


if __name__ == "__main__":
    main()

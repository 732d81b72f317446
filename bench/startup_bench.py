"""Start-up: wall time of whole `workbench` processes, against `python -c pass` (the floor).

    .venv/bin/python bench/startup_bench.py [--repeat 7] [--postgres] [--old DIR] [--new DIR]

Each case is a fresh process (the console script a user runs), timed from spawn to exit, with its
peak RSS. --old DIR also times another checkout of the code (e.g. `git worktree add DIR <commit>`),
interleaved with this one (old, new, old, new ...) so that a noisy machine slows both alike.
`datasets` lists a data dir holding 5 small datasets; --postgres adds the same on a throwaway
PostgreSQL server (testkit.postgres). The target (issue #17): `--help` and `datasets` <= 0.25 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pty
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _util import ROOT, compile_package, machine, median, print_table

TARGET_S = 0.25
WORKBENCH = str(Path(sys.executable).with_name("workbench"))  # the console script of this venv
TIME = "/usr/bin/time"
DATASETS = 5


def run_once(argv: list[str], code_dir: Path, env: dict[str, str], terminal: bool) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one process running the code
    in ``code_dir``. On a busy machine the CPU time is the steadier figure: wall time waits for a core."""
    # PYTHONPATH and the working directory put ``code_dir`` first (before the editable install).
    child_env = env | {"PYTHONPATH": str(code_dir)}
    # The peak RSS is taken by GNU time: a child's ru_maxrss counts the pages it had before exec,
    # i.e. this (much bigger) process's. Every case, the floor too, pays its ~1 ms alike.
    peak_file = Path(tempfile.mkstemp(prefix="wb-startup-rss-")[1])
    argv = [TIME, "-f", "%M %U %S", "-o", str(peak_file), *argv]
    if terminal:  # a pseudo-terminal: the tables are drawn by rich, as a user sees them
        leader, follower = pty.openpty()
        out = follower
    else:
        out = subprocess.DEVNULL
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=code_dir, env=child_env, stdout=out, stderr=subprocess.PIPE)
    if terminal:
        os.close(follower)
        with contextlib.suppress(OSError):
            while os.read(leader, 65536):
                pass
        os.close(leader)
    proc.wait()
    elapsed = time.perf_counter() - started
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} in {code_dir} failed ({proc.returncode}): {stderr}")
    peak_kb, user_s, system_s = peak_file.read_text().split()[-3:]
    peak_file.unlink()
    return elapsed, float(user_s) + float(system_s), int(peak_kb) / 1024


def fill(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """A workspace with a few small datasets; returns the environment that points at it."""
    from testkit.synthetic import write_jsonl
    from workbench.config import Settings
    from workbench.service.workspace import open_workspace
    from workbench.store.datasets import import_dataset

    store = open_workspace(Settings.load(data_dir=data_dir, database_url=database_url))
    for n in range(DATASETS):
        path = data_dir / f"people-{n}.jsonl"
        write_jsonl(path, 50 + n, seed=n)
        import_dataset(store, path, name=f"people {n}")
    store.close()
    # As an installed copy runs: compiled bytecode is kept (in a cache dir of ours, not in the checkout).
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(data_dir.parent / "pycache")
    env["WORKBENCH_DATA_DIR"] = str(data_dir)
    if database_url:
        env["WORKBENCH_DATABASE_URL"] = database_url
    return env


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    from testkit.postgres import create_database, postgres_server, wait_ready

    with postgres_server() as server:
        wait_ready(server)
        yield create_database(server)


def cases(sqlite_env: dict[str, str], pg_env: dict[str, str] | None) -> list[tuple[str, list[str], dict, bool]]:
    """(label, argv, environment, on a terminal)."""
    py = sys.executable
    found = [
        ("python -c pass (floor)", [py, "-c", "pass"], sqlite_env, False),
        ('python -c "import workbench.cli"', [py, "-c", "import workbench.cli"], sqlite_env, False),
        ("workbench --help", [WORKBENCH, "--help"], sqlite_env, False),
        ("workbench --version", [WORKBENCH, "--version"], sqlite_env, False),
        ("workbench datasets (SQLite)", [WORKBENCH, "datasets"], sqlite_env, False),
        ("workbench datasets (SQLite, terminal)", [WORKBENCH, "datasets"], sqlite_env, True),
        ("workbench models list (SQLite)", [WORKBENCH, "models", "list"], sqlite_env, False),
    ]
    if pg_env is not None:
        found.append(("workbench datasets (PostgreSQL)", [WORKBENCH, "datasets"], pg_env, False))
    return found


def spread(values: list[float]) -> str:
    return f"{min(values):.3f}–{max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="also `datasets` on a throwaway PostgreSQL")
    parser.add_argument("--old", type=Path, help="another checkout to time beside this one, interleaved")
    parser.add_argument("--new", type=Path, default=ROOT, help="the code timed as new [default: this checkout]")
    args = parser.parse_args()
    versions = [("new", args.new.resolve())] + ([("old", args.old.resolve())] if args.old else [])
    for _label, checkout in versions:
        compile_package(checkout)
    print(f"machine: {machine()}; {args.repeat} runs of each, interleaved; target {TARGET_S} s")

    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wb-startup-")))
        sqlite_env = fill(work / "sqlite", None)
        pg_env = fill(work / "pg", stack.enter_context(postgres_url())) if args.postgres else None
        found = cases(sqlite_env, pg_env)
        times: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        rss: dict[tuple[str, str], list[float]] = {}
        for _label, argv, env, terminal in found:  # once each, untimed: compiled bytecode, warm caches
            for _version, code_dir in versions:
                run_once(argv, code_dir, env, terminal)
        for i in range(args.repeat):
            for label, argv, env, terminal in found:
                for version, code_dir in reversed(versions) if i % 2 else versions:
                    elapsed, cpu_s, peak = run_once(argv, code_dir, env, terminal)
                    times.setdefault((label, version), []).append(elapsed)
                    cpu.setdefault((label, version), []).append(cpu_s)
                    rss.setdefault((label, version), []).append(peak)

    headers = ["case"]
    for version, _dir in versions:
        headers += [f"{version} wall s", f"{version} min–max", f"{version} cpu s", f"{version} peak MB"]
    headers += (["new / old"] if args.old else []) + ["<= 0.25 s"]
    rows = []
    for label, *_rest in found:
        row = [label]
        for version, _dir in versions:
            row += [f"{median(times[label, version]):.3f}", spread(times[label, version]),
                    f"{median(cpu[label, version]):.2f}", f"{median(rss[label, version]):.0f}"]
        new = median(times[label, "new"])
        if args.old:
            row.append(f"{new / median(times[label, 'old']):.2f}")
        row.append("yes" if new <= TARGET_S else "no")
        rows.append(row)
    print_table(f"Start-up, whole process: medians of {args.repeat} (wall min–max); new / old and the target"
                " on wall time; cpu = user + system (GNU time, 10 ms ticks)", headers, rows)


if __name__ == "__main__":
    main()

"""Import and exports at 1M records × 3 columns, whole processes: `workbench import` of a JSONL and
`workbench export` (results CSV / Parquet, training JSONL, golden JSONL), median of --repeat, spread,
peak RSS (the child's, through RUSAGE_CHILDREN).

    .venv/bin/python bench/io_bench.py [--records 1000000] [--repeat 5] [--postgres | --database-url URL]
        [--source FILE.jsonl] [--data-dir DIR] [--compare OLD_TREE] [--no-import] [--no-exports]

The exports need a dataset "big" with three models' results: --data-dir reuses one built before
(testkit.scale.populate; a 1M populate takes many minutes), else one is built in a temp dir after
the imports. --compare times another checkout of the workbench (e.g. `git archive HEAD~3 | tar -x
-C /tmp/old`) interleaved with this one, old, new, old, new..., so a noisy machine hits both alike.
scale_bench.py prints these rows too, through import_rows and export_rows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _util import ROOT, machine, print_table

sys.path.insert(0, str(ROOT))

EXPORTS = [("results", "csv"), ("results", "parquet"), ("training", "jsonl"), ("golden", "jsonl")]
TARGET = "≤ 40 s"
# A factory's data dir, and for PostgreSQL the environment pointing it at a fresh database.
DataDir = Path | tuple[Path, dict[str, str]]


def timed_process(args: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak RSS MB) of a command run as its own process (as scale_bench.timed_process)."""
    import subprocess

    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
               "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", wrapper, *args], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {out.stderr.strip()[-2000:]}")
    seconds, rss = out.stdout.split()
    return float(seconds), float(rss)


def figures(times: list[float], rss: list[float]) -> list[str]:
    """median, min–max (n), median peak RSS."""
    return [f"{statistics.median(times):.1f} s", f"{min(times):.1f}–{max(times):.1f} s (n={len(times)})",
            f"{statistics.median(rss):.0f} MB"]


def time_imports(clis: dict[str, list[str]], source: Path, data_dir_factory: Callable[[], DataDir], env: dict,
                 repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    """Each command line's `import` of ``source`` into a fresh data dir, interleaved ``repeat`` times:
    label -> (seconds, peak RSS MB)."""
    timed: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in clis}
    for _ in range(repeat):
        for label, cli in clis.items():
            made = data_dir_factory()
            data_dir, extra = made if isinstance(made, tuple) else (made, {})
            seconds, rss = timed_process([*cli, "import", str(source), "--name", "big", "--data-dir",
                                          str(data_dir)], {**env, **extra})
            shutil.rmtree(data_dir, ignore_errors=True)  # 1.6 GB each at 1M on SQLite
            print(f"  import {label}: {seconds:.1f} s, {rss:.0f} MB", file=sys.stderr, flush=True)
            timed[label][0].append(seconds)
            timed[label][1].append(rss)
    return timed


def import_rows(cli: list[str], source: Path, data_dir_factory: Callable[[], DataDir], env: dict,
                repeat: int) -> list[list[str]]:
    """[what, median, spread, peak RSS, target] for `workbench import` of ``source``, each time into
    a fresh data dir from ``data_dir_factory`` (a Path, or (Path, env) with a fresh database's URL:
    see postgres_data_dirs)."""
    seconds, rss = time_imports({"": cli}, source, data_dir_factory, env, repeat)[""]
    return [[f"import {_line_count(source):,} JSONL", *figures(seconds, rss), TARGET]]


def time_exports(clis: dict[str, list[str]], data_dir: Path, env: dict, work: Path, repeat: int,
                 targets: list[tuple[str, str]]) -> dict[tuple[str, str, str], tuple[list[float], list[float]]]:
    """Each export of the dataset "big" in ``data_dir`` by each command line, interleaved:
    (label, kind, format) -> (seconds, peak RSS MB)."""
    timed: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
    for _ in range(repeat):
        for kind, fmt in targets:
            for label, cli in clis.items():
                out = work / f"export.{kind}.{fmt}"
                seconds, rss = timed_process([*cli, "export", "--dataset", "big", "--kind", kind, "--format", fmt,
                                              "-o", str(out), "--data-dir", str(data_dir)], env)
                out.unlink(missing_ok=True)
                print(f"  export {kind} {fmt} {label}: {seconds:.1f} s, {rss:.0f} MB", file=sys.stderr, flush=True)
                entry = timed.setdefault((label, kind, fmt), ([], []))
                entry[0].append(seconds)
                entry[1].append(rss)
    return timed


def export_rows(cli: list[str], data_dir: Path, env: dict, work: Path, repeat: int,
                targets: list[tuple[str, str]]) -> list[list[str]]:
    """[what, median, spread, peak RSS, target] for each (kind, format) export of dataset "big"."""
    timed = time_exports({"": cli}, data_dir, env, work, repeat, targets)
    return [[f"export {kind} {fmt}", *figures(*timed[("", kind, fmt)]), TARGET] for kind, fmt in targets]


def postgres_data_dirs(server_url: str, work: Path) -> Callable[[], DataDir]:
    """A factory of fresh data dirs each with a fresh database on ``server_url``; each call drops the
    database the previous one made (1M records are ~1.5 GB)."""
    from testkit.postgres import create_database

    made: list[str] = []

    def fresh() -> DataDir:
        while made:
            _drop_database(server_url, made.pop())
        url = create_database(server_url)
        made.append(url)
        return Path(tempfile.mkdtemp(dir=work)), {"WORKBENCH_DATABASE_URL": url}

    return fresh


def _drop_database(server_url: str, url: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _line_count(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def _build(cli: list[str], source: Path, data_dir: Path, env: dict, database_url: str | None) -> None:
    """Dataset "big" imported by the CLI, then three models' results (testkit.scale.populate)."""
    from testkit.scale import populate
    from workbench.config import Settings

    timed_process([*cli, "import", str(source), "--name", "big", "--data-dir", str(data_dir)], env)
    started = time.perf_counter()
    populate(Settings.load(data_dir=data_dir, database_url=database_url), "big")
    print(f"(built {data_dir}: populated in {time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--source", type=Path, help="a JSONL from testkit.synthetic.write_jsonl (else written)")
    parser.add_argument("--data-dir", type=Path, help="a data dir holding dataset 'big' with results, for exports")
    parser.add_argument("--postgres", action="store_true", help="use a throwaway PostgreSQL server")
    parser.add_argument("--database-url", help="the PostgreSQL database of --data-dir (imports make databases of "
                        "their own on its server)")
    parser.add_argument("--compare", type=Path, help="another checkout of the repository, timed interleaved")
    parser.add_argument("--no-import", action="store_true")
    parser.add_argument("--no-exports", action="store_true")
    args = parser.parse_args()
    from testkit.synthetic import write_jsonl

    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="wb-io-"))
    new = [sys.executable, "-m", "workbench"]
    clis = {"new": new}
    if args.compare:  # -P: the other tree's package, not the one in the current directory
        clis = {"old": ["env", f"PYTHONPATH={args.compare}", sys.executable, "-P", "-m", "workbench"], "new": new}
    env = dict(os.environ)
    env.pop("WORKBENCH_DATABASE_URL", None)
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        server_url = args.database_url and args.database_url.rsplit("/", 1)[0] + "/postgres"
        if args.postgres:
            from testkit.postgres import postgres_server, wait_ready

            server_url = stack.enter_context(postgres_server())
            wait_ready(server_url)
        store_name = "PostgreSQL" if server_url else "SQLite"
        source = args.source
        needs_source = not args.no_import or (not args.no_exports and args.data_dir is None)
        if source is None and needs_source:
            source = work / "candidates.jsonl"
            write_jsonl(source, args.records)
        # Exports only, from a data dir given: its records are what the table is about, not a file's.
        what = f"{_line_count(source):,} records" if needs_source else f"the records in {args.data_dir}"
        suffix = (lambda label: f" ({label})") if len(clis) > 1 else (lambda label: "")
        rows: list[list[str]] = []
        if not args.no_import:
            factory = (postgres_data_dirs(server_url, work) if server_url
                       else lambda: Path(tempfile.mkdtemp(dir=work)))
            timed = time_imports(clis, source, factory, env, args.repeat)
            rows += [[f"import {what} JSONL{suffix(label)}", *figures(*timed[label]), TARGET] for label in clis]
        if not args.no_exports:
            data_dir, export_env = args.data_dir, dict(env)
            if data_dir is not None and args.database_url:
                export_env["WORKBENCH_DATABASE_URL"] = args.database_url
            if data_dir is None:
                data_dir, database_url = work / "data", None
                if server_url:
                    from testkit.postgres import create_database

                    database_url = export_env["WORKBENCH_DATABASE_URL"] = create_database(server_url)
                _build(new, source, data_dir, export_env, database_url)
            timed_exports = time_exports(clis, data_dir, export_env, work, args.repeat, EXPORTS)
            rows += [[f"export {kind} {fmt}{suffix(label)}", *figures(*timed_exports[(label, kind, fmt)]), TARGET]
                     for kind, fmt in EXPORTS for label in clis]
    print_table(f"Import and exports, {what} × 3 columns ({store_name}), whole processes, "
                f"median of {args.repeat}", ["what", "median", "spread", "peak RSS", "target"], rows)


if __name__ == "__main__":
    main()

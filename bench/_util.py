"""Shared helpers for the benchmark scripts (run them from the repository root)."""

from __future__ import annotations

import contextlib
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> str:
    import os

    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB")


def compile_package(root: Path = ROOT) -> None:
    """Byte-compile the workbench's modules, as an installed package has them: with
    PYTHONDONTWRITEBYTECODE set and no .pyc, every process would compile them from source again
    (~60 ms of a run's start here), a cost no installed copy pays."""
    import compileall

    compileall.compile_dir(root / "workbench", quiet=1)


def median(values: list[float]) -> float:
    return statistics.median(values)


@contextlib.contextmanager
def fake_server(*args: str):
    """The fake OpenAI-compatible server as its own process (so it doesn't share our GIL)."""
    proc = subprocess.Popen([sys.executable, "-m", "testkit.fake_openai", "--port", "0", *args],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(line.split()[1])
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))

"""A full disk and a read-only data dir: one clear line, and what was saved stays intact."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import POSTGRES
from testkit.synthetic import write_jsonl

pytestmark = pytest.mark.skipif(POSTGRES or os.geteuid() != 0,
                                reason="needs root to mount a small filesystem; SQLite only")


@pytest.fixture
def small_disk(tmp_path):
    mount = Path("/tmp") / f"wb-small-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mount)]).returncode != 0:
        mount.rmdir()
        pytest.skip("can't mount a tmpfs here")
    yield mount
    subprocess.run(["umount", "-l", str(mount)])
    mount.rmdir()


def workbench(data_dir, *args):
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_DATABASE_URL"}
    return subprocess.run([sys.executable, "-m", "workbench", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, env=env)


def test_a_full_disk_is_one_clear_error_and_corrupts_nothing(small_disk, tmp_path):
    data = small_disk / "data"
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    write_jsonl(small, 50)
    write_jsonl(big, 6000)  # ~6 MB: more than the disk holds
    assert workbench(data, "import", str(small), "--name", "first").returncode == 0
    failed = workbench(data, "import", str(big), "--name", "second")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("error: ") and "full" in failed.stderr
    assert "a bug" not in failed.stderr  # told as the storage problem it is, not as an unforeseen error
    listing = workbench(data, "datasets")
    assert listing.returncode == 0 and "first\t" in listing.stdout and "second" not in listing.stdout
    check = subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                            "print(c.execute('PRAGMA integrity_check').fetchone()[0], "
                            "c.execute('SELECT count(*) FROM records').fetchone()[0])", str(data / "workbench.db")],
                           capture_output=True, text=True)
    assert check.stdout.split() == ["ok", "50"]


def test_a_read_only_data_dir_is_one_clear_error(small_disk, tmp_path):
    data = small_disk / "data"
    source = tmp_path / "small.jsonl"
    write_jsonl(source, 20)
    assert workbench(data, "import", str(source), "--name", "first").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    failed = workbench(data, "import", str(source), "--name", "again")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert failed.stderr.startswith("error: ") and "read-only" in failed.stderr

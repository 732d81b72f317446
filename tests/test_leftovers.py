"""Crash leftovers: what a killed process left in <data dir>/uploads/ and exports/ is deleted when
the workspace is next opened, but never a live process's file (several `workbench serve` may share
one data dir). A scratch file's name says whose it is (workbench.scratch)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from testkit.net import free_port, wait_for_http
from testkit.synthetic import write_jsonl
from workbench.scratch import _host, _start_time, scratch_path, sweep
from workbench.service.workspace import open_workspace

DAY = 24 * 3600


def owned_name(pid: int, start: int, suffix: str = ".jsonl") -> str:
    return f"{_host()}-{pid}-{start}-{uuid.uuid4().hex}{suffix}"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant(directory, name: str, age_s: float = 0) -> object:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(b"x" * 1000)
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def test_sweep_keeps_live_owners_files_and_deletes_the_rest(settings):
    uploads, exports = settings.data_dir / "uploads", settings.data_dir / "exports"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        mine = scratch_path(uploads, ".csv")
        mine.write_text("id\n1\n")
        kept = [
            mine,
            plant(exports, owned_name(other.pid, _start_time(other.pid))),  # another live process
            plant(exports, "." + owned_name(other.pid, _start_time(other.pid)) + ".k3j2h1"),  # its atomic temp
            plant(uploads, "notes.txt"),  # unknown owner, recent: only age can tell
        ]
        gone = [
            plant(uploads, owned_name(dead_pid(), 12345)),  # killed mid-upload
            plant(exports, "." + owned_name(dead_pid(), 1, ".csv") + ".a8b7c6"),  # an export's atomic temp
            plant(uploads, owned_name(os.getpid(), _start_time(os.getpid()) + 1)),  # a pid reused since
            plant(exports, owned_name(other.pid, _start_time(other.pid)), age_s=2 * DAY),  # a day old
            plant(uploads, "3f2a.jsonl", age_s=2 * DAY),  # named before the scheme
            plant(exports, owned_name(dead_pid(), 0).replace(_host(), "another-host"), age_s=2 * DAY),
        ]
        store = open_workspace(settings)
        store.close()
        assert [p.exists() for p in kept] == [True] * len(kept)
        assert [p.exists() for p in gone] == [False] * len(gone)
        assert sweep(settings.data_dir) == (0, 0)  # nothing more to do
    finally:
        other.kill()
        other.wait()


def _serve(data_dir, log) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port), "--no-warm-up",
                             "--data-dir", str(data_dir)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url + "/api/datasets", 60, proc)
    return proc, url


def _upload(url: str, path) -> None:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jsonl\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "/api/datasets", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Workbench-Client": "tests"})
    try:
        urllib.request.urlopen(request, timeout=120).read()
    except OSError:
        pass  # the server is killed mid-way


def _bigger_than(folder, size: int) -> bool:
    """A .jsonl file in ``folder`` has passed ``size`` bytes (waiting for the file alone killed the
    server before it had written anything much)."""
    for path in folder.glob("*.jsonl"):
        try:
            if path.stat().st_size > size:
                return True
        except FileNotFoundError:  # removed between the listing and the look
            pass
    return False


def test_a_server_killed_mid_upload_leaves_nothing_after_restart(settings, tmp_path):
    data_dir = settings.data_dir
    big = tmp_path / "big.jsonl"
    write_jsonl(big, 40_000)
    log = open(tmp_path / "serve.log", "w")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    proc, url = _serve(data_dir, log)
    try:
        uploader = threading.Thread(target=_upload, args=(url, big), daemon=True)
        uploader.start()
        deadline = time.monotonic() + 60
        while not _bigger_than(data_dir / "uploads", 1_000_000) and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # while it copies or imports the upload, past its first MB
        proc.wait()
        leftovers = list((data_dir / "uploads").glob("*.jsonl"))
        assert leftovers and leftovers[0].stat().st_size > 1_000_000, "the upload was not caught mid-way"
        uploader.join(30)
        live = plant(data_dir / "exports", owned_name(other.pid, _start_time(other.pid), ".parquet"))
        proc, url = _serve(data_dir, log)  # restart on the same data dir
        assert not any(p.exists() for p in leftovers)
        assert live.exists(), "a live process's in-flight file was deleted"
        with urllib.request.urlopen(url + "/api/datasets", timeout=10) as answer:
            assert answer.status == 200
    finally:
        proc.kill()
        proc.wait()
        other.kill()
        other.wait()
        log.close()

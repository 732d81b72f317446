"""Scratch files of a serving process (an upload being imported, an export being sent), and
cleaning up after processes that died (kill -9, power loss) while holding some.

Several `workbench serve` processes may share one data dir, so a scratch file's name says whose it
is: ``<host>-<pid>-<process start>-<random><suffix>``. A process that opens the workspace deletes
the scratch files of processes of this host that are no longer alive (a pid reused by another
process has another start time), and any file there older than a day: another host's, or one
named before this scheme.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
import uuid
from pathlib import Path

SCRATCH_DIRS = ("uploads", "exports")
MAX_AGE_S = 24 * 3600
# The atomic writer's temp files (".<name>.XXXXXXXX") carry the owner of the name they replace.
_NAME = re.compile(r"^\.?(?P<host>[A-Za-z0-9.-]+)-(?P<pid>\d+)-(?P<start>\d+)-[0-9a-f]{32}")
log = logging.getLogger("workbench")


def scratch_path(directory: Path, suffix: str = "") -> Path:
    """A new file name in ``directory`` (created if needed) owned by this process."""
    directory.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    return directory / f"{_host()}-{pid}-{_start_time(pid)}-{uuid.uuid4().hex}{suffix}"


def sweep(data_dir: Path, now: float | None = None) -> tuple[int, int]:
    """Delete dead processes' scratch files under ``data_dir``; returns (files, bytes) deleted."""
    now = time.time() if now is None else now
    files = size = 0
    for name in SCRATCH_DIRS:
        try:
            entries = list(os.scandir(data_dir / name))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
                if now - stat.st_mtime <= MAX_AGE_S and _owner_alive(entry.name):
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue  # its owner finished with it meanwhile
            files += 1
            size += stat.st_size
    if files:
        log.info("removed %d leftover file(s) (%.1f MB) of processes that ended without cleaning up",
                 files, size / 1e6)
    return files, size


def _owner_alive(name: str) -> bool:
    match = _NAME.match(name)
    if match is None or match["host"] != _host():
        return True  # unknown owner: only its age can tell
    pid = int(match["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    state, start = _proc_stat(pid)
    return state != "Z" and (start == 0 or int(match["start"]) in (0, start))  # Z: killed, not reaped


def _start_time(pid: int) -> int:
    return _proc_stat(pid)[1]


def _proc_stat(pid: int) -> tuple[str, int]:
    """The process's state and start (clock ticks since boot, Linux), so a reused pid is told
    apart; ("", 0) where /proc doesn't say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[19])
    except (OSError, IndexError, ValueError):
        return "", 0


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "", socket.gethostname())[:64] or "host"

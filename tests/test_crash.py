"""kill -9 the runner mid-run, start it again: nothing lost, nothing done twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from testkit.fake_openai import FakeOpenAIServer, FaultConfig, prompt_key
from workbench.domain.models import build_model
from testkit.synthetic import write_jsonl
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.store.datasets import import_dataset, iter_records
from workbench.store.models import save_model
from workbench.store.runs import list_runs


def results_seqs(store) -> list[int]:
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT seq FROM results"))]


def start_runner(data_dir, dataset_id) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "run", "--dataset", dataset_id, "--model", "fake",
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def test_kill_9_mid_run_then_resume(store, tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, 1500)
    ds = import_dataset(store, path).id
    key_of = {r.seq: prompt_key(TASK.render(r.data)[-1]["content"]) for r in iter_records(store, ds)}
    with FakeOpenAIServer(FaultConfig(latency_ms=15)) as server:
        save_model(store, build_model({"id": "fake", "provider": "openai", "base_url": server.base_url,
                                       "model": "fake-a", "max_concurrency": 8}))
        sends_at_kill: dict[int, int] = {}  # seq finished before a kill -> times it had been sent then
        for kill_at in (200, 700):
            proc = start_runner(store.settings.data_dir, ds)
            deadline = time.monotonic() + 60
            while len(results_seqs(store)) < kill_at and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            finished = results_seqs(store)
            assert len(finished) >= kill_at
            sends_at_kill.update({s: server.requests_by_prompt[key_of[s]] for s in finished})
        proc = start_runner(store.settings.data_dir, ds)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        seen = server.requests_by_prompt

    seqs = results_seqs(store)
    assert len(seqs) == len(set(seqs)) == 1500  # every record, exactly once
    [run] = list_runs(store)  # the same run continued each time
    assert (run.status, run.done, run.errors) == ("completed", 1500, 0)
    # Requests in flight at a kill are redone; a record whose result was saved never is.
    resent = [s for s, sends in sends_at_kill.items() if seen[key_of[s]] != sends]
    assert resent == [], f"{len(resent)} finished records were sent again"

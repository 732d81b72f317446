"""Two `workbench serve` processes over one PostgreSQL database share the runs: each run is
executed by one process at a time (a lease on the run), no record is asked of the model twice,
when one process dies (kill -9) the other takes over its runs and finishes them (as does a
`workbench run` that was following the run), and a model slower than the lease does not make a
live owner lose its run.

PostgreSQL only (WORKBENCH_TEST_POSTGRES=1): several servers on one database is the setup the
scale issue asks for.

Without a limit, whichever process looks first takes every queued run, so to give each process
runs of its own most tests hold the other one still (SIGSTOP) while they start them. A stopped
process keeps its leases (they last LEASE_SECONDS), so this also checks that a live owner's runs
are not taken. With `serve --max-runs`, runs spread by themselves; one test checks that."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from contextlib import ExitStack

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES, free_port, wait_for_http
from testkit.fake_openai import FakeOpenAIServer, FaultConfig, prompt_key
from tests.test_soak import call
from workbench.domain.models import build_model
from testkit.synthetic import write_jsonl
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.store.datasets import import_dataset, iter_records
from workbench.store.models import save_model

pytestmark = pytest.mark.skipif(not POSTGRES, reason="needs PostgreSQL (WORKBENCH_TEST_POSTGRES=1)")

RECORDS = 300
MODELS = ("m1", "m2", "m3", "m4")
TIMEOUT = 120  # generous: a noisy 2-core machine runs two servers, PostgreSQL and the fake model


class Serve:
    """A `workbench serve` subprocess with a data dir of its own; the database comes from
    WORKBENCH_DATABASE_URL, which the conftest points at this test's PostgreSQL database."""

    def __init__(self, data_dir, log_path, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(self.port),
                                      "--data-dir", str(data_dir)], stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self):
        wait_for_http(f"{self.url}/api/health", 90, self.proc)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # in case a failed assertion left it stopped
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def owner_pid(owner: str) -> int:
    return int(owner.split(":")[-2])  # "host:pid:nonce"


class OwnerWatch(threading.Thread):
    """Every lease owner each run ever had, read from the database every 50 ms."""

    def __init__(self, store):
        super().__init__(daemon=True)
        self.store = store
        self.owners: dict[int, list[int]] = defaultdict(list)  # run id -> owner pids, in order seen
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            with self.store.engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT id, lease_owner FROM runs WHERE lease_owner IS NOT NULL")).all()
            for run_id, owner in rows:
                pid = owner_pid(owner)
                if pid not in self.owners[run_id]:
                    self.owners[run_id].append(pid)
            self.halt.wait(0.05)

    def stop(self):
        self.halt.set()
        self.join(10)


def leases(store, run_ids) -> dict[int, str | None]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, lease_owner FROM runs WHERE id = ANY(:ids)"), {"ids": list(run_ids)})
        return dict(rows.all())


def wait_until(condition, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what() if callable(what) else what)
        time.sleep(0.05)


def result_seqs(store, run_id) -> list[int]:
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT seq FROM results WHERE run_id = :r"), {"r": run_id})]


def start_runs(store, via: Serve, hold: Serve, models) -> list[int]:
    """Start runs through `via`'s API while `hold` is stopped, so `via` is the one that claims them."""
    hold.signal(signal.SIGSTOP)
    try:
        status, runs, _ = call(via.url, "/api/runs", {"dataset_id": "cands", "model_ids": list(models)})
        assert status == 201, runs
        ids = [r["id"] for r in runs]
        wait_until(lambda: all(owner is not None for owner in leases(store, ids).values()),
                   f"{via.url} did not claim runs {ids}", timeout=20)  # well inside the held one's lease
        assert {owner_pid(o) for o in leases(store, ids).values()} == {via.pid}
    finally:
        hold.signal(signal.SIGCONT)
    return ids


def wait_completed(server: Serve, count: int):
    runs = []

    def done():
        status, answer, _ = call(server.url, "/api/runs?dataset_id=cands")
        runs[:] = answer if status == 200 else []
        return len(runs) == count and all(r["status"] == "completed" for r in runs)

    wait_until(done, lambda: f"runs did not all complete: {[(r['id'], r['status'], r['done']) for r in runs]}")


@pytest.fixture
def cluster(store, tmp_path):
    """Starts the fake model server, the dataset, the models and two servers on one database;
    stops everything at the end."""
    stack = ExitStack()

    def start(records=RECORDS, latency_ms=30.0, jitter_ms=20.0, concurrency=2, env=None, keys=False):
        """``keys``: each server sends its own API key (WB_TEST_KEY), so requests tell who sent them."""
        path = tmp_path / "cands.jsonl"
        write_jsonl(path, records)
        dataset = import_dataset(store, path, name="cands")
        assert dataset.id == "cands"
        key_of = {r.seq: prompt_key(TASK.render(r.data)[-1]["content"]) for r in iter_records(store, dataset.id)}
        model_server = stack.enter_context(FakeOpenAIServer(FaultConfig(latency_ms=latency_ms,
                                                                         latency_jitter_ms=jitter_ms)))
        for model in MODELS:
            save_model(store, build_model({"id": model, "provider": "openai", "base_url": model_server.base_url,
                                           "model": model, "max_concurrency": concurrency,
                                           **({"api_key_env": "WB_TEST_KEY"} if keys else {})}))
        servers = []
        for name in ("a", "b"):
            server_env = {**(env or {}), **({"WB_TEST_KEY": f"key-{name}"} if keys else {})}
            servers.append(Serve(tmp_path / name, tmp_path / f"serve-{name}.log", server_env))
            stack.callback(servers[-1].stop)
        for server in servers:
            server.wait_ready()
        watch = OwnerWatch(store)
        watch.start()
        stack.callback(watch.stop)
        return model_server, servers, watch, key_of

    with stack:
        yield start
    for log in sorted(tmp_path.glob("serve-*.log")):  # shown only when the test fails
        print(f"--- {log.name}\n{log.read_text()[-3000:]}")


def check_one_result_per_record(store, run_ids, records=RECORDS):
    for run_id in run_ids:
        seqs = result_seqs(store, run_id)
        assert len(seqs) == len(set(seqs)) == records, run_id  # none missing, none twice
        with store.engine.connect() as conn:
            statuses = conn.execute(sa.text("SELECT status, count(*) FROM results WHERE run_id = :r GROUP BY status"),
                                    {"r": run_id}).all()
        assert dict(statuses) == {"ok": records}


def test_two_servers_share_runs_without_doing_a_record_twice(store, cluster):
    model_server, (a, b), watch, key_of = cluster()
    a_runs = start_runs(store, via=a, hold=b, models=MODELS[:2])
    b_runs = start_runs(store, via=b, hold=a, models=MODELS[2:])
    wait_completed(a, len(MODELS))
    watch.stop()

    # Each run was executed by one process from start to end, and both processes worked.
    assert {run_id: watch.owners[run_id] for run_id in a_runs} == {run_id: [a.pid] for run_id in a_runs}
    assert {run_id: watch.owners[run_id] for run_id in b_runs} == {run_id: [b.pid] for run_id in b_runs}
    check_one_result_per_record(store, a_runs + b_runs)
    # The model was asked about every record exactly once per model.
    sent = model_server.requests_by_model_prompt
    assert {(m, key_of[s]): sent[(m, key_of[s])] for m in MODELS for s in key_of} == \
        {(m, key_of[s]): 1 for m in MODELS for s in key_of}
    assert model_server.total == len(MODELS) * RECORDS


def test_with_a_limit_on_runs_per_server_the_runs_spread_by_themselves(store, cluster):
    """`serve --max-runs 2` (here via WORKBENCH_MAX_RUNS) on both: four runs started through one
    server end up two on each, with no help."""
    model_server, (a, b), watch, key_of = cluster(env={"WORKBENCH_MAX_RUNS": "2"})
    status, runs, _ = call(a.url, "/api/runs", {"dataset_id": "cands", "model_ids": list(MODELS)})
    assert status == 201, runs
    wait_completed(b, len(MODELS))
    watch.stop()
    owners = {run_id: pids for run_id, pids in watch.owners.items()}
    assert all(len(pids) == 1 for pids in owners.values()), owners  # nobody took a run from anybody
    assert sorted(pids[0] for pids in owners.values()) == sorted([a.pid, a.pid, b.pid, b.pid])
    check_one_result_per_record(store, [r["id"] for r in runs])
    assert model_server.total == len(MODELS) * RECORDS


def test_kill_9_one_server_the_other_takes_over_its_runs(store, cluster):
    model_server, (a, b), watch, key_of = cluster()
    a_runs = start_runs(store, via=a, hold=b, models=MODELS[:2])
    b_runs = start_runs(store, via=b, hold=a, models=MODELS[2:])
    wait_until(lambda: all(len(result_seqs(store, r)) >= 30 for r in a_runs), "server a saved no results")

    a.signal(signal.SIGKILL)
    a.proc.wait()
    finished = {run_id: result_seqs(store, run_id) for run_id in a_runs}
    assert all(len(seqs) < RECORDS for seqs in finished.values()), "a finished before it was killed"
    model_of = {run_id: m for run_id, m in zip(a_runs, MODELS[:2], strict=True)}
    sent_at_kill = {(run_id, s): model_server.requests_by_model_prompt[(model_of[run_id], key_of[s])]
                    for run_id, seqs in finished.items() for s in seqs}

    wait_completed(b, len(MODELS))
    watch.stop()

    # b took a's runs over (the lease of a dead process is free) and kept its own.
    assert {run_id: watch.owners[run_id] for run_id in a_runs} == {run_id: [a.pid, b.pid] for run_id in a_runs}
    assert {run_id: watch.owners[run_id] for run_id in b_runs} == {run_id: [b.pid] for run_id in b_runs}
    check_one_result_per_record(store, a_runs + b_runs)
    sent = model_server.requests_by_model_prompt
    # A record whose result a saved was never asked again; only answers in flight at the kill
    # (or not yet written) were asked twice, and nothing more than twice.
    resent = [key for key, count in sent_at_kill.items() if sent[(model_of[key[0]], key_of[key[1]])] != count]
    assert resent == []
    assert all(sent[(m, key_of[s])] in (1, 2) for m in MODELS[:2] for s in key_of)
    assert all(sent[(m, key_of[s])] == 1 for m in MODELS[2:] for s in key_of)


def test_a_slow_model_does_not_lose_its_run_to_the_other_server(store, cluster):
    """Answers slower than the lease: the owner is alive and must keep its run all the same
    (a lease of 3 s here instead of 30, and 6 s per answer)."""
    model_server, (a, b), watch, key_of = cluster(records=20, latency_ms=6000, jitter_ms=0, concurrency=10,
                                                  env={"WORKBENCH_LEASE_SECONDS": "3"})
    [run_id] = start_runs(store, via=a, hold=b, models=MODELS[:1])
    wait_completed(a, 1)
    watch.stop()
    assert watch.owners[run_id] == [a.pid]
    check_one_result_per_record(store, [run_id], 20)
    sent = model_server.requests_by_model_prompt
    assert {s: sent[(MODELS[0], key)] for s, key in key_of.items()} == {s: 1 for s in key_of}


def test_workbench_run_following_a_server_takes_over_when_the_server_dies(store, cluster, tmp_path):
    """`workbench run` on a run a server is running follows it; if that server dies, the command
    takes the run over and finishes it instead of waiting forever."""
    model_server, (a, b), watch, key_of = cluster()
    b.stop()
    status, runs, _ = call(a.url, "/api/runs", {"dataset_id": "cands", "model_ids": [MODELS[0]]})
    assert status == 201, runs
    [run_id] = [r["id"] for r in runs]
    wait_until(lambda: leases(store, [run_id])[run_id] is not None, "server a did not claim the run")
    log = open(tmp_path / "run.log", "w")
    command = subprocess.Popen([sys.executable, "-m", "workbench", "run", "--dataset", "cands", "--model", MODELS[0],
                                "--data-dir", str(tmp_path / "cli")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: len(result_seqs(store, run_id)) >= 30, "server a saved no results")
        a.signal(signal.SIGKILL)
        a.proc.wait()
        assert command.wait(TIMEOUT) == 0, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        if command.poll() is None:
            command.kill()
        log.close()
    watch.stop()
    assert watch.owners[run_id][0] == a.pid and watch.owners[run_id][-1] == command.pid
    check_one_result_per_record(store, [run_id])


def test_a_server_held_up_past_its_lease_hands_the_run_over_when_it_wakes(store, cluster):
    """One server is frozen (SIGSTOP) past its lease; the other takes the run over. When the first
    wakes it must not ask the model anything more, and must leave the run, its state and its
    counters to the new owner (a lease of 3 s here)."""
    model_server, (a, b), watch, key_of = cluster(latency_ms=40, jitter_ms=10, concurrency=4, keys=True,
                                                  env={"WORKBENCH_LEASE_SECONDS": "3"})
    [run_id] = start_runs(store, via=a, hold=b, models=MODELS[:1])
    wait_until(lambda: len(result_seqs(store, run_id)) >= 30, "server a saved no results")
    a.signal(signal.SIGSTOP)
    try:
        saved_before = set(result_seqs(store, run_id))
        wait_until(lambda: owner_pid(leases(store, [run_id])[run_id] or "x:0:x") == b.pid,
                   "server b did not take the run over", timeout=60)
        time.sleep(1)  # b is at work
        sent_by_a = model_server.fake.authorizations["Bearer key-a"]
    finally:
        a.signal(signal.SIGCONT)
    wait_completed(b, 1)
    time.sleep(2)  # time for a stale writer, had there been one, to overwrite the figures
    watch.stop()
    assert watch.owners[run_id] == [a.pid, b.pid]
    assert model_server.fake.authorizations["Bearer key-a"] == sent_by_a  # nothing more from a once awake
    check_one_result_per_record(store, [run_id])
    status, runs, _ = call(b.url, "/api/runs?dataset_id=cands")
    assert [(r["status"], r["done"], r["errors"]) for r in runs] == [("completed", RECORDS, 0)]
    sent = model_server.requests_by_model_prompt
    # Saved before the freeze: never asked again. Asked twice: only what a had asked and not yet
    # saved when it froze.
    assert all(sent[(MODELS[0], key_of[s])] == 1 for s in saved_before)
    assert all(sent[(MODELS[0], key)] in (1, 2) for key in key_of.values())
    assert call(a.url, "/api/health")[0] == 200  # a is up and answering

"""Many people at once, and crashes: 20 annotators and 3 runs against a real `workbench serve`,
then the same with the server killed (kill -9) and restarted five times. Nothing acknowledged may
be lost, no record may get two results, and no request may end in a 5xx."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import sqlalchemy as sa

from testkit.net import free_port, wait_for_http
from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from tests.test_browser import ARTIFACTS
from workbench.domain.models import build_model
from testkit.synthetic import write_jsonl
from workbench.store.annotations import history
from workbench.store.datasets import import_dataset
from workbench.store.models import save_model
from workbench.store.runs import list_runs

SECONDS = float(os.environ.get("WORKBENCH_SOAK_SECONDS", "60"))
ANNOTATORS = 20
RECORDS = 600
MODELS = ("gemma", "olmo", "phi")
HEADERS = {"Content-Type": "application/json", "X-Workbench-Client": "soak"}


class Server:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(self.port),
                                      "--data-dir", str(self.data_dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_http(f"{self.url}/api/health", 60, self.proc)

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def call(url, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data, HEADERS if data else {})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null"), time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, None, time.perf_counter() - started


def setup(store, tmp_path, server):
    path = tmp_path / "cands.jsonl"
    write_jsonl(path, RECORDS)
    import_dataset(store, path, name="cands")
    for model in MODELS:
        save_model(store, build_model({"id": model, "provider": "openai", "base_url": server.base_url,
                                       "model": model, "max_concurrency": 2}))


def annotate_forever(url_of, stop, acknowledged, latencies, failures, seed):
    rng = random.Random(seed)
    author = f"annotator-{seed}"
    while not stop.is_set():
        record = f"cand-{rng.randint(1, RECORDS):06d}"
        if rng.random() < 0.5:
            body = {"dataset_id": "cands", "record_id": record, "field": "note", "value": f"{author} {rng.random()}"}
        else:
            body = {"dataset_id": "cands", "record_id": record, "model_id": rng.choice(MODELS), "field": "judgement",
                    "value": rng.choice(["good", "wrong", None])}
        body["author"] = author
        try:
            status, answer, seconds = call(url_of(), "/api/annotations", body)
        except (OSError, http.client.HTTPException):  # server down or killed mid-answer: not acknowledged
            time.sleep(0.05)
            continue
        latencies.append(seconds)
        if status >= 500:
            failures.append((status, body))
        elif status == 201:
            acknowledged.append(answer)


def check_annotations(store, acknowledged):
    """Every acknowledged change is in the log, and each field's state is its latest logged value.
    (After a kill -9 a change may be saved without its answer reaching the client: it still counts.)"""
    logged = {e["id"]: e for e in history(store, "cands", limit=1_000_000)}
    assert all(a["event_id"] in logged for a in acknowledged)
    last: dict[tuple, dict] = {}
    for event in sorted(logged.values(), key=lambda e: e["id"]):
        last[(event["seq"], event["model_id"], event["field"])] = event
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, model_id, judgement, note FROM annotations "
                                    "WHERE dataset_id = 'cands'")).mappings().all()
    state = {(r["seq"], r["model_id"]): r for r in rows}
    for (seq, model, field), a in last.items():
        assert state[(seq, model)][field] == a["value"], (seq, model, field)


def check_runs(store):
    runs = list_runs(store, dataset_id="cands")
    assert [r.status for r in runs] == ["completed"] * len(MODELS)
    with store.engine.connect() as conn:
        for run in runs:
            count, distinct = conn.execute(sa.text("SELECT count(*), count(DISTINCT seq) FROM results "
                                                   "WHERE run_id = :r"), {"r": run.id}).one()
            assert count == distinct == RECORDS


def wait_for_runs(url, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, runs, _ = call(url, "/api/runs?dataset_id=cands")
        if status == 200 and runs and all(r["status"] == "completed" for r in runs):
            return
        time.sleep(0.3)
    raise TimeoutError(runs)


def test_twenty_annotators_and_three_runs_at_once(store, tmp_path):
    with FakeOpenAIServer(FaultConfig(latency_ms=40, error_500_rate=0.05)) as models_server:
        setup(store, tmp_path, models_server)
        server = Server(store.settings.data_dir)
        server.start()
        try:
            status, _, _ = call(server.url, "/api/runs", {"dataset_id": "cands", "model_ids": list(MODELS)})
            assert status == 201
            stop, acknowledged, latencies, failures = threading.Event(), [], [], []
            threads = [threading.Thread(target=annotate_forever,
                                        args=(lambda: server.url, stop, acknowledged, latencies, failures, i))
                       for i in range(ANNOTATORS)]
            for t in threads:
                t.start()
            time.sleep(SECONDS)
            stop.set()
            for t in threads:
                t.join()
            wait_for_runs(server.url)
        finally:
            server.stop()
    assert failures == []  # no 5xx
    assert len(acknowledged) > ANNOTATORS * 5
    check_annotations(store, acknowledged)
    check_runs(store)
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95)]
    report = (f"{ANNOTATORS} annotators + {len(MODELS)} runs for {SECONDS:.0f} s: {len(latencies)} requests, "
              f"median {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, 0 errors\n")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "soak.txt").write_text(report)
    print("\n" + report)


def test_kill_9_during_runs_and_annotation_bursts(store, tmp_path):
    with FakeOpenAIServer(FaultConfig(latency_ms=40)) as models_server:
        setup(store, tmp_path, models_server)
        server = Server(store.settings.data_dir)
        server.start()
        try:
            call(server.url, "/api/runs", {"dataset_id": "cands", "model_ids": list(MODELS)})
            stop, acknowledged, latencies, failures = threading.Event(), [], [], []
            threads = [threading.Thread(target=annotate_forever,
                                        args=(lambda: server.url, stop, acknowledged, latencies, failures, i))
                       for i in range(8)]
            for t in threads:
                t.start()
            rng = random.Random(7)
            for _ in range(5):
                time.sleep(rng.uniform(1.0, 3.0))
                server.kill()
                server.start()  # the runs continue from where the last batch left them
            stop.set()
            for t in threads:
                t.join()
            wait_for_runs(server.url, timeout=180)
        finally:
            server.stop()
    assert failures == []
    assert acknowledged
    check_annotations(store, acknowledged)
    check_runs(store)

"""Read-modify-write races, with real threads and real processes, on SQLite and PostgreSQL.

Each race is repeated (TRIALS) because one lucky interleaving proves nothing; every trial must
hold: an acknowledged write is never reverted, the log's chain of values is unbroken, ids and
versions are distinct, a run has one owner and an acknowledged pause or cancel sticks.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
from collections import defaultdict
from dataclasses import replace

import pytest
import sqlalchemy as sa

from workbench.config import Settings
from workbench.domain.models import ModelConfig
from workbench.domain.tasks import CANDIDATE_SCREENING
from workbench.store.annotations import AnnotationConflict, annotate, history, undo
from workbench.store.datasets import import_dataset, list_datasets
from workbench.store.db import write_transaction
from workbench.store.models import get_model, save_model
from workbench.store.runs import RunStateError, claim, clear_errors, create_run, get_run, list_runs, request_state
from workbench.store.schema import runs
from workbench.store.tasks import get_task, save_task
from workbench.service.workspace import sample_path

TRIALS = 25
BASELINE = ModelConfig(id="baseline", name="Baseline", provider="baseline")


def race(*calls):
    """Run the calls in threads released at once; returns each one's result or exception."""
    start = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def go(i, call):
        start.wait(timeout=60)
        try:
            outcomes[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test looks at what each call gave
            outcomes[i] = exc

    threads = [threading.Thread(target=go, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a racing call hung"
    return outcomes


@pytest.fixture
def cands(store):
    import_dataset(store, sample_path(), name="cands")
    return store


def test_write_transaction_holds_its_lock_before_the_first_read(cands):
    """The lock is taken at BEGIN, not at the first write; plain readers still don't wait."""
    with write_transaction(cands, "some-key") as conn:
        with cands.engine.connect() as reader:  # a page reading meanwhile
            assert reader.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 0
        if cands.dialect == "sqlite":
            other = sqlite3.connect(cands.settings.database_url.removeprefix("sqlite:///"), timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
        else:
            with cands.engine.connect() as other:
                assert other.execute(sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended('some-key', 0))"))\
                    .scalar() is False
        conn.execute(sa.select(1))


def _note(store, record_id, value, author):
    return annotate(store, dataset_id="cands", record_id=record_id, field="note", value=value, author=author)


def _state_note(store, record_id):
    from workbench.store.annotations import record_notes
    from workbench.store.datasets import get_record

    seq = get_record(store, "cands", record_id).seq
    return record_notes(store, "cands", [seq]).get(seq, {}).get("note")


def _assert_chain_unbroken(store):
    """Each event's ``previous`` is the value the event before it (in id order) left in that field."""
    chains = defaultdict(list)
    for event in sorted(history(store, "cands", limit=100_000), key=lambda e: e["id"]):
        chains[(event["seq"], event["model_id"], event["field"])].append(event)
    broken = []
    for key, events in chains.items():
        value = False if key[2] == "golden" else None
        for event in events:
            if event["previous"] != value:
                broken.append((key, event["id"], event["previous"], value))
            value = event["value"]
    assert broken == []


def test_undo_never_reverts_an_acknowledged_write(cands):
    """ann undoes her note while bob writes his: bob's note stays, whichever goes first
    (the undo applies before it, or refuses)."""
    reverted = []
    for i in range(1, TRIALS + 1):
        record = f"cand-{i:06d}"
        mine = _note(cands, record, f"ann {i}", "ann")
        undone, written = race(lambda: undo(cands, dataset_id="cands", author="ann", event_id=mine["event_id"]),
                               lambda: _note(cands, record, f"bob {i}", "bob"))
        assert isinstance(written, dict), written
        assert isinstance(undone, (dict, AnnotationConflict)), undone
        if _state_note(cands, record) != f"bob {i}":
            reverted.append(i)
    assert reverted == []
    _assert_chain_unbroken(cands)


def test_log_chain_under_concurrent_writers(cands):
    """Four people write (and undo) the same field of the same records at once: the log's
    ``previous`` values form one unbroken chain and the state is the last event's value."""
    records = [f"cand-{i:06d}" for i in range(1, 6)]

    def work(author):
        def go():
            for n in range(TRIALS // 5 * 2):
                for record in records:
                    _note(cands, record, f"{author} {n}", author)
                if n % 3 == 2:
                    try:
                        undo(cands, dataset_id="cands", author=author)
                    except AnnotationConflict:
                        pass
        return go

    outcomes = race(*(work(a) for a in ("ann", "bob", "cy", "dee")))
    assert outcomes == [None] * 4
    _assert_chain_unbroken(cands)
    for record in records:
        assert _state_note(cands, record) == history(cands, "cands", record, limit=1)[0]["value"]


def test_concurrent_undos_of_one_event_apply_once(cands):
    """Two tabs send the same undo: one applies, the other refuses; the log has one undo."""
    for i in range(1, TRIALS + 1):
        record = f"cand-{i:06d}"
        _note(cands, record, f"first {i}", "ann")
        mine = _note(cands, record, f"second {i}", "ann")
        outcomes = race(*(lambda: undo(cands, dataset_id="cands", author="ann", event_id=mine["event_id"]),) * 2)
        assert sorted(type(o).__name__ for o in outcomes) == ["AnnotationConflict", "dict"], outcomes
        assert _state_note(cands, record) == f"first {i}"
    _assert_chain_unbroken(cands)


def test_parallel_imports_with_one_name_get_distinct_ids(store):
    for _trial in range(5):
        outcomes = race(*(lambda: import_dataset(store, sample_path(), name="same") for _ in range(6)))
        problems = [o for o in outcomes if isinstance(o, Exception)]
        assert problems == []
        assert len({o.id for o in outcomes}) == 6
    assert len({d.id for d in list_datasets(store)}) == 30


def _variant(n: int):
    return replace(CANDIDATE_SCREENING, name="racy", description=f"variant {n}")


def test_concurrent_task_saves_get_distinct_versions(store):
    saved = 0
    for trial in range(TRIALS // 5):
        outcomes = race(*(lambda n=n: save_task(store, _variant(trial * 10 + n)) for n in range(6)))
        assert [o for o in outcomes if isinstance(o, Exception)] == []
        assert sorted(o.version for o in outcomes) == list(range(saved + 1, saved + 7))
        saved += 6
    # the same definition saved at once keeps one version
    outcomes = race(*(lambda: save_task(store, _variant(999)) for _ in range(4)))
    assert {o.version for o in outcomes} == {saved + 1}
    assert get_task(store, "racy").version == saved + 1


def test_concurrent_saves_of_a_new_model(store):
    for trial in range(TRIALS // 5):
        model_id = f"m{trial}"
        outcomes = race(*(lambda n=n: save_model(store, BASELINE.with_changes(id=model_id, name=f"n{n}"))
                          for n in range(6)))
        assert [o for o in outcomes if isinstance(o, Exception)] == []
        assert get_model(store, model_id).name in {f"n{n}" for n in range(6)}


def _queued_run(store):
    return create_run(store, dataset_id="cands", model=BASELINE, task_name=CANDIDATE_SCREENING.name,
                      task_version=get_task(store, CANDIDATE_SCREENING.name).version, total=10, options={})


@pytest.mark.parametrize("action, status", [("pause", "paused"), ("cancel", "cancelled")])
def test_an_acknowledged_pause_or_cancel_sticks_when_a_claim_races_it(cands, action, status):
    """A claim (queued → running) racing the user's pause never turns the paused run back to running."""
    lost = []
    for trial in range(TRIALS):
        run = _queued_run(cands)
        claimed, asked = race(lambda: claim(cands, run.id), lambda: request_state(cands, run.id, action))
        assert isinstance(asked, type(run)) and isinstance(claimed, bool), (claimed, asked)
        if get_run(cands, run.id).status != status:
            lost.append(trial)
    assert lost == []


# ---- real processes ---------------------------------------------------------------------------

_worker_store = None
_worker_barrier = None


def _worker_init(data_dir: str, database_url: str, barrier) -> None:
    global _worker_store, _worker_barrier
    from workbench.store.db import open_store

    _worker_store = open_store(Settings.load(data_dir=data_dir, database_url=database_url))
    _worker_barrier = barrier


def _worker_claim(run_id: int) -> bool:
    _worker_barrier.wait(timeout=60)
    return claim(_worker_store, run_id)


def _worker_claim_or_retry(job: tuple[str, int]) -> str:
    """One process claims the run, another retries its errors at the same moment; the rest wait."""
    action, run_id = job
    _worker_barrier.wait(timeout=60)
    try:
        if action == "claim":
            return f"claimed {claim(_worker_store, run_id)}"
        if action == "retry":
            return f"retried {clear_errors(_worker_store, run_id)}"
    except RunStateError as exc:
        return f"refused: {exc}"
    return "idle"


def _worker_save_task(n: int) -> int:
    _worker_barrier.wait(timeout=60)
    return save_task(_worker_store, _variant(n)).version


PROCESSES = 4


@pytest.fixture
def pool(cands, settings):
    """Worker processes on the same database (each its own lease owner), started once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    with context.Pool(PROCESSES, initializer=_worker_init,
                      initargs=(str(settings.data_dir), settings.database_url, barrier)) as workers:
        yield workers
        workers.terminate()


def _orphan(store, run_id: int) -> None:
    """Running under the lease of a process on another host that let it lapse."""
    with store.engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            status="running", lease_owner="elsewhere:1:gone", lease_expires_at="2000-01-01T00:00:00.000+00:00"))


def test_concurrent_claims_from_processes_have_one_owner(cands, pool):
    """Processes claim a queued run (or take over an orphaned one) at once: exactly one wins."""
    for trial in range(TRIALS):
        run = _queued_run(cands)
        if trial % 2:
            _orphan(cands, run.id)
        won = pool.map(_worker_claim, [run.id] * PROCESSES, chunksize=1)
        assert sum(won) == 1, won
        after = get_run(cands, run.id)
        assert after.status == "running" and after.lease_owner not in (None, "elsewhere:1:gone")


def test_retrying_errors_never_requeues_a_run_another_process_just_claimed(cands, pool):
    """Retry-errors either runs before the claim (then the claim takes the queued run) or is
    refused because the run is running: the claimed run is never put back to queued under its owner."""
    broken = []
    for trial in range(TRIALS):
        run = _queued_run(cands)
        outcomes = pool.map(_worker_claim_or_retry, [("claim", run.id), ("retry", run.id)]
                            + [("wait", run.id)] * (PROCESSES - 2), chunksize=1)
        assert outcomes[0] == "claimed True" and outcomes[1].startswith(("retried", "refused: run")), outcomes
        after = get_run(cands, run.id)
        if after.status != "running":
            broken.append((trial, after.status, outcomes[1]))
    assert broken == []


def test_task_saves_from_processes_get_distinct_versions(cands, pool):
    base = 0
    for trial in range(TRIALS // 5):
        versions = pool.map(_worker_save_task, [trial * 10 + n for n in range(PROCESSES)], chunksize=1)
        assert sorted(versions) == list(range(base + 1, base + PROCESSES + 1))
        base += PROCESSES


def test_parallel_cli_imports_with_one_name(store, settings, tmp_path):
    """`workbench import` started six times at once with one name: six datasets, no traceback."""
    env = {**os.environ, "WORKBENCH_DATABASE_URL": settings.database_url}
    procs = [subprocess.Popen([sys.executable, "-m", "workbench", "import", str(sample_path()), "--name", "same",
                               "--data-dir", str(settings.data_dir)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err for _, err in outputs]
    assert all("Traceback" not in err for _, err in outputs)
    ids = [out.strip() for out, _ in outputs]
    assert len(set(ids)) == 6 and set(ids) == {d.id for d in list_datasets(store)}


def _worker_migrate(database_url: str) -> list[str]:
    from workbench.store.db import open_store

    _worker_barrier.wait(timeout=60)
    store = open_store(Settings.load(data_dir=os.environ["WORKBENCH_DATA_DIR"], database_url=database_url))
    try:
        from workbench.store.migrations import applied

        return applied(store.engine)
    finally:
        store.close()


def test_processes_starting_on_a_new_database_migrate_it_once(settings, postgres_url, tmp_path):
    """Four processes open one brand-new database at the same moment: each migration is applied
    once, whole, and every process starts (before: 'table datasets already exists' in 8 of 10, and
    'database is locked' from the switch to WAL in 2 of 40)."""
    from testkit.postgres import create_database
    from workbench.store.migrations import MIGRATIONS

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    with context.Pool(PROCESSES, initializer=_worker_init_barrier, initargs=(barrier,)) as workers:
        for trial in range(20):
            url = create_database(postgres_url) if postgres_url else f"sqlite:///{tmp_path}/new-{trial}.db"
            seen = workers.map(_worker_migrate, [url] * PROCESSES, chunksize=1)
            assert seen == [sorted(name for name, _ in MIGRATIONS)] * PROCESSES
        workers.terminate()


def _worker_init_barrier(barrier) -> None:
    global _worker_barrier
    _worker_barrier = barrier


# ---- lock order: a batch of results for several runs against pauses and retries of one ---------

def _batch_update(run, seq: int):
    from workbench.store.results import ResultRow, RunUpdate

    row = ResultRow(seq=seq, record_id=f"r{seq}", status="error", output=None, error_kind="http",
                    error_message="boom", raw_text=None, latency_ms=1.0, tokens_in=1, tokens_out=1, attempts=1,
                    cached=False)
    progress = {"model_id": run.model_id, "dataset_id": run.dataset_id, "done": seq, "errors": seq,
                "tokens_in": 0, "tokens_out": 0, "cost": 0.0, "active_seconds": 0.0}
    return RunUpdate(run.id, [row], [(f"key-{run.id}-{seq}", "text", 1, 1)], progress)


def test_batches_for_two_runs_never_deadlock_with_pauses_and_retries_of_one(cands):
    """The writer saves results of runs 1 and 2 in one transaction while users pause, resume and
    retry the errors of run 2: every statement takes row locks before the event log's lock, so
    nothing deadlocks (before: the batch locked the event log between run 1's row and run 2's,
    DeadlockDetected on PostgreSQL, which the writer takes for a storage failure)."""
    from workbench.store.results import write_batch

    first, second = _queued_run(cands), _queued_run(cands)
    rounds, problems = 60, []

    def batches():
        for n in range(rounds):
            write_batch(cands, [_batch_update(first, n % 50 + 1), _batch_update(second, n % 50 + 1)])

    def users(action):
        for _ in range(rounds):
            try:
                if action == "retry":
                    clear_errors(cands, second.id)
                else:
                    request_state(cands, second.id, "pause")
                    request_state(cands, second.id, "resume")
            except RunStateError:
                pass  # the other user's change came first: a refusal, not a failure

    def collected(call):
        def go():
            try:
                call()
            except Exception as exc:  # noqa: BLE001 - the first failure of each thread is what we report
                problems.append(exc)
        return go

    race(collected(batches), collected(batches), collected(lambda: users("pause")),
         collected(lambda: users("retry")))
    assert problems == []
    assert get_run(cands, first.id).done == (rounds - 1) % 50 + 1  # the last batch's counters


def test_simultaneous_starts_of_one_run_give_one_run(cands):
    """Two "Run" clicks (or two `workbench run`s) at once for one dataset, model and task version
    continue one run; neither creates a second (before: two runs in most trials)."""
    from workbench.service.runs import start_runs

    save_model(cands, BASELINE)
    for _trial in range(TRIALS // 5):
        outcomes = race(*(lambda: start_runs(cands, "cands", ["baseline"]) for _ in range(4)))
        assert [o for o in outcomes if isinstance(o, Exception)] == []
        assert len({o[0].id for o in outcomes}) == 1, [o[0].id for o in outcomes]
        request_state(cands, outcomes[0][0].id, "cancel")  # the next trial starts a new one
    assert len({r.id for r in list_runs(cands)}) == TRIALS // 5


@pytest.mark.parametrize("edit", [{"name": "renamed", "base_url": "http://127.0.0.1:9/v1", "max_concurrency": 3},
                                  {"structured_output": "prompt", "name": "chosen by hand"}])
def test_an_edit_saved_during_a_connection_test_is_kept(store, monkeypatch, edit):
    """"Test connection" takes seconds; a model edit saved meanwhile survives it, and the probe's
    form is recorded only where the model still says auto (before: the probe saved the whole
    model it had read, reverting the edit)."""
    import asyncio

    import workbench.service.models as model_service
    from workbench.providers.probe import ProbeResult

    model = ModelConfig(id="remote", name="Remote", provider="openai", base_url="http://127.0.0.1:8/v1", model="m")
    save_model(store, model)

    async def probe_while_someone_edits(config, task, record, timeout_s):
        save_model(store, config.with_changes(**edit))  # the edit, acknowledged while the probe runs
        return ProbeResult(ok=True, structured_output="json_object")

    monkeypatch.setattr(model_service, "test_connection", probe_while_someone_edits)
    assert asyncio.run(model_service.test_model(store, "remote", CANDIDATE_SCREENING.name)).ok
    after = get_model(store, "remote")
    assert after == model.with_changes(**{"structured_output": "json_object", **edit})


def _samples(store):
    from workbench.service.workspace import SAMPLE_FILE

    return [d for d in list_datasets(store) if d.source_name == SAMPLE_FILE]


def test_simultaneous_demo_setups_import_the_sample_once(store):
    """Threads setting up the demo at once (`serve --demo` twice) end with one sample dataset,
    the one each of them answers (before: several)."""
    from workbench.service.workspace import ensure_demo

    for _trial in range(3):
        outcomes = race(*(lambda: ensure_demo(store) for _ in range(4)))
        assert [o for o in outcomes if isinstance(o, Exception)] == []
        assert len(_samples(store)) == 1 and {o.id for o in outcomes} == {_samples(store)[0].id}


def _worker_ensure_demo(_: int) -> str:
    from workbench.service.workspace import ensure_demo

    _worker_barrier.wait(timeout=60)
    return ensure_demo(_worker_store).id


def test_demo_setups_from_processes_import_the_sample_once(store, settings):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    with context.Pool(PROCESSES, initializer=_worker_init,
                      initargs=(str(settings.data_dir), settings.database_url, barrier)) as workers:
        ids = workers.map(_worker_ensure_demo, range(PROCESSES), chunksize=1)
        workers.terminate()
    assert len(_samples(store)) == 1 and set(ids) == {_samples(store)[0].id}


def test_the_writer_writes_a_batch_again_after_a_deadlock_instead_of_pausing(cands, monkeypatch):
    """PostgreSQL aborting a batch to break a deadlock (or a serialization conflict) is a conflict
    with another transaction, not a storage failure: the batch is written again and no run pauses
    (before: the run was paused as if the disk were full)."""
    import asyncio

    import workbench.runner.writer as writer_module
    from workbench.store.results import run_results

    run = _queued_run(cands)
    update = _batch_update(run, 1)

    class Conflict(Exception):
        sqlstate = "40P01"

    real, aborted = writer_module._write_batch, []

    def aborted_once(store, updates):
        if not aborted:
            aborted.append(True)
            raise sa.exc.OperationalError("INSERT ...", {}, Conflict("deadlock detected"))
        return real(store, updates)

    class Source:
        run_id = run.id
        failures: list = []

        def snapshot(self):
            return update.progress

        def storage_failed(self, exc):
            self.failures.append(exc)

        def result_replaced(self, old, new):
            self.failures.append((old, new))

        def run_gone(self):
            self.failures.append("gone")

        def internal_failure(self, where, exc):
            self.failures.append((where, exc))

    monkeypatch.setattr(writer_module, "_write_batch", aborted_once)
    source, result_writer = Source(), writer_module.ResultWriter(cands)
    result_writer.add(source, update.rows[0], update.cache_entries[0])
    asyncio.run(result_writer.flush())
    assert aborted and source.failures == []
    assert [r["seq"] for r in run_results(cands, run.id)] == [1]


# ---- lock order on PostgreSQL: lease renewal against the writer, run locks against result inserts -----

postgres_only = pytest.mark.skipif(not os.environ.get("WORKBENCH_TEST_POSTGRES"), reason="row locks of PostgreSQL")


def _running_runs_here(store, count: int) -> list[int]:
    from workbench.store.runs import OWNER

    ids = [_queued_run(store).id for _ in range(count)]
    with store.engine.begin() as conn:
        for run_id in reversed(ids):  # new row versions in reverse id order: a scan meets the last first
            conn.execute(runs.update().where(runs.c.id == run_id).values(status="running", lease_owner=OWNER))
    return ids


def _wait_for_a_lock_wait(store) -> None:
    query = sa.text("SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()")
    for _ in range(2000):
        with store.engine.connect() as conn:
            if conn.execute(query).scalar():
                return
        threading.Event().wait(0.005)
    raise AssertionError("the other transaction never waited for the row lock")


@postgres_only
def test_lease_renewal_locks_runs_in_the_writers_order(cands):
    """The writer locks run rows by id (first, then last); renew_leases racing it must too (before:
    one UPDATE locked them in scan order, last first: DeadlockDetected, after a 1 s stall)."""
    from workbench.store.runs import renew_leases

    first, *_, last = _running_runs_here(cands, 4)
    renewed: list = []
    with cands.engine.connect() as conn, conn.begin():
        conn.execute(runs.update().where(runs.c.id == first).values(done=1))  # as write_batch: lowest id first
        thread = threading.Thread(target=lambda: renewed.append(_outcome(renew_leases, cands)))
        thread.start()
        _wait_for_a_lock_wait(cands)  # renew_leases waits for `first`
        conn.execute(runs.update().where(runs.c.id == last).values(done=1))  # before: deadlock here
    thread.join(60)
    assert renewed == [None]


def _outcome(call, *args):
    try:
        return call(*args)
    except Exception as exc:  # noqa: BLE001 - the test compares outcomes
        return exc


@postgres_only
def test_a_locked_run_lets_its_results_be_inserted(cands):
    """claim/recount/clear_errors lock the run's row FOR NO KEY UPDATE, which the foreign key check
    of a result insert (FOR KEY SHARE) does not wait for (before: FOR UPDATE, the insert waited)."""
    from workbench.store.runs import _locked_run
    from workbench.store.schema import results

    run = _queued_run(cands)
    row = _batch_update(run, 1).rows[0].as_row(run.id, "2026-01-01T00:00:00")
    with write_transaction(cands) as holder:
        _locked_run(holder, run.id, runs.c.status)
        with cands.engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SET LOCAL lock_timeout = '3s'"))  # before: LockNotAvailable after 3 s
            conn.execute(results.insert().values(**row))

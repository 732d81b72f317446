"""The runner's memory does not grow with the run: when the store is slower than the model, answers
wait for the store instead of queueing unsaved (at 200K records that queue was what grew: issue #17).

Not a timing test: the store is made slow on purpose and the test counts the results the runner
holds answered but unsaved, which must stay under the writer's bound however many records the
run has."""

from __future__ import annotations

import asyncio
import threading

import pytest

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from testkit.synthetic import write_jsonl
from workbench.domain.models import build_model
from workbench.runner import writer as writer_module
from workbench.runner.manager import RunManager
from workbench.runner.options import RunOptions
from workbench.service.runs import start_runs
from workbench.store.datasets import import_dataset
from workbench.store.models import save_model
from workbench.store.results import run_results
from workbench.store.runs import get_run

RECORDS = 160


class SlowStore:
    """Counts results added to the writer and saved by it; a batch is written only once the runner
    holds more than ``bound`` unsaved (an unbounded runner gets there) or it has stopped answering
    for a while (a bounded runner waits for the store)."""

    def __init__(self, monkeypatch, bound: int) -> None:
        self.added = self.saved = self.most_held = 0
        self.more = threading.Condition()
        real_add, real_write = writer_module.ResultWriter.add, writer_module._write_batch

        def add(writer, source, row, cache_entry=None):
            real_add(writer, source, row, cache_entry)
            if row is not None:
                with self.more:
                    self.added += 1
                    self.most_held = max(self.most_held, self.added - self.saved)
                    self.more.notify_all()

        def write(store, updates):
            with self.more:
                self.more.wait_for(lambda: self.added - self.saved > bound, timeout=0.3)
            real_write(store, updates)
            with self.more:
                self.saved += sum(len(u.rows) for u in updates)

        monkeypatch.setattr(writer_module.ResultWriter, "add", add)
        monkeypatch.setattr(writer_module, "_write_batch", write)


@pytest.mark.parametrize(("max_held", "concurrency"), [(12, 4), (1, 6)])
def test_answers_wait_for_a_slow_store_instead_of_piling_up_unsaved(store, tmp_path, monkeypatch, max_held,
                                                                     concurrency):
    # A worker checks for room before it takes a record, so each may add one answer past max_held.
    bound = max_held + concurrency
    path = tmp_path / "cands.jsonl"
    write_jsonl(path, RECORDS)
    dataset_id = import_dataset(store, path).id
    slow = SlowStore(monkeypatch, bound)
    with FakeOpenAIServer(FaultConfig(latency_ms=0)) as server:
        save_model(store, build_model({"id": "fake", "provider": "openai", "base_url": server.base_url,
                                       "model": "fake-model", "max_concurrency": concurrency}))
        [run] = start_runs(store, dataset_id, ["fake"], options=RunOptions(fresh=True))
        manager = RunManager(store)
        manager.writer.max_held = max_held
        final = asyncio.run(manager.execute([run.id]))
    assert final == {run.id: "completed"}
    assert slow.most_held <= bound, f"{slow.most_held} results held unsaved (bound {bound})"
    assert slow.saved == RECORDS and len(run_results(store, run.id)) == RECORDS
    assert get_run(store, run.id).done == RECORDS


class _BrokenSource:
    """A run whose figures can't be taken, and whose internal failure itself raises: the worst a
    flush can meet."""

    run_id = 1

    def snapshot(self) -> dict:
        raise RuntimeError("no figures")

    def internal_failure(self, where: str, exc: BaseException) -> None:
        raise RuntimeError("failing to fail")

    def storage_failed(self, exc: Exception) -> None: ...

    def result_replaced(self, old, new) -> None: ...

    def run_gone(self) -> None: ...


def test_workers_waiting_for_room_are_woken_whatever_a_flush_meets():
    """A flush that raises, or finds its run's rows dropped (the run deleted), still wakes the
    workers waiting for room, rather than leaving them (and every run in the process) waiting."""
    writer = writer_module.ResultWriter(store=None, max_held=2)  # type: ignore[arg-type]

    async def scenario() -> None:
        for _ in range(3):
            writer.add(_BrokenSource(), object())  # type: ignore[arg-type]
        waiting = asyncio.create_task(writer.room())
        await asyncio.sleep(0)
        assert not waiting.done()
        with pytest.raises(RuntimeError):
            await writer._flush()
        # The rows stay queued (the run's figures couldn't be taken); as when a deleted run's rows are
        # dropped, nothing is left dirty once they go, and the waiter gets room.
        writer._dirty.clear()
        writer._rows.clear()
        await writer._flush()
        await asyncio.wait_for(waiting, 5)

    asyncio.run(scenario())

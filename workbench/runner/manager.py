"""Executing runs in this process: many at once, sharing one result writer and the lease keeper.

The CLI executes the runs it was given (``execute``); the web server executes whatever is queued,
by any process, and runs orphaned by a crash (``serve_forever``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from workbench.domain.progress import TERMINAL_STATES
from workbench.runner.executor import RunExecutor
from workbench.runner.heap import trim_forever
from workbench.runner.lease import keep_leases
from workbench.runner.writer import ResultWriter
from workbench.store.faults import is_storage_failure
from workbench.store import Store
from workbench.store.runs import RunNotFound, get_run, list_runs, set_status
from workbench.store.tasks import get_task

log = logging.getLogger(__name__)


ProgressCallback = Callable[[dict[int, dict[str, Any]]], Awaitable[None] | None]


class RunManager:
    """Executes runs concurrently in this process, sharing one result writer."""

    def __init__(self, store: Store, max_runs: int | None = None):
        self.store = store
        self.writer = ResultWriter(store)
        self.executors: dict[int, RunExecutor] = {}
        self.max_runs = max_runs  # serve: runs executed here at once; the rest wait, or go to another server

    async def execute(self, run_ids: Iterable[int], on_progress: ProgressCallback | None = None,
                      progress_interval_s: float = 0.25) -> dict[int, str]:
        """Run to the end (or until paused/stopped); returns the final status of each run."""
        run_ids = list(run_ids)
        writer_task = asyncio.create_task(self.writer.run_forever())
        lease_task = asyncio.create_task(keep_leases(self.store))
        trim_task = asyncio.create_task(trim_forever())
        tasks: dict[int, asyncio.Task] = {}
        final: dict[int, str] = {}
        reporter = None
        try:
            for run_id in run_ids:
                started = await self._start(run_id)
                if isinstance(started, str):  # over already, or can't start: the others still go on
                    final[run_id] = started
                    continue
                self.executors[run_id] = started
                tasks[run_id] = asyncio.create_task(started.execute())
            reporter = asyncio.create_task(self._report(on_progress, progress_interval_s)) if on_progress else None
            await asyncio.gather(*tasks.values(), return_exceptions=True)
        finally:
            # Left early (storage failure, cancelled): the started runs stop cleanly, their work saved.
            for run_id, task in tasks.items():
                if not task.done():
                    self.executors[run_id].stop("paused", "the command stopped before this run ended")
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            background = [t for t in (reporter, writer_task, lease_task, trim_task) if t is not None]
            for job in background:
                job.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self.writer.flush()
        if on_progress:
            await _call(on_progress, self.progress())
        for run_id, task in tasks.items():
            final[run_id] = task.result()  # an executor's own exception (none is expected) is raised here
        return {run_id: final[run_id] for run_id in run_ids}

    async def _start(self, run_id: int) -> RunExecutor | str:
        """The run's executor; or, for a run that is over or can't start (failed, saying why), its status."""
        try:
            run = await asyncio.to_thread(get_run, self.store, run_id)
            if run.status in TERMINAL_STATES:
                return run.status
            if run.status == "paused":
                await asyncio.to_thread(set_status, self.store, run_id, "queued", None, only_from=("paused",))
                run = await asyncio.to_thread(get_run, self.store, run_id)
            task = await asyncio.to_thread(get_task, self.store, run.task_name, run.task_version)
            return RunExecutor(self.store, run, task, self.writer)
        except RunNotFound:  # deleted with its dataset
            return "cancelled"
        except Exception as exc:  # noqa: BLE001 - this run can't start; the others still do
            if is_storage_failure(exc):
                raise
            await self._fail_to_start(run_id, exc)
            return "failed"

    async def _fail_to_start(self, run_id: int, exc: Exception) -> None:
        log.error("run %s can't start: %s: %s", run_id, type(exc).__name__, exc)
        await asyncio.to_thread(set_status, self.store, run_id, "failed", f"can't start: {exc}"[:500],
                                only_from=("queued", "running", "paused"), release_lease=True)

    async def serve_forever(self, poll_s: float = 1.0) -> None:
        """For the web server: execute queued runs (and runs orphaned by a crash) as they appear."""
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task] = {}
        writer_task = asyncio.create_task(self.writer.run_forever())
        lease_task = asyncio.create_task(keep_leases(self.store))
        trim_task = asyncio.create_task(trim_forever())  # a server runs many runs: give freed memory back
        try:
            while True:
                try:
                    await self._pick_up()
                except Exception as exc:  # noqa: BLE001 - the database away for a moment: look again next beat
                    log.warning("could not look for queued runs: %s", exc)
                try:
                    await asyncio.wait_for(self._wake.wait(), poll_s)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
        finally:
            await self._shutdown(writer_task)
            lease_task.cancel()
            trim_task.cancel()
            await asyncio.gather(lease_task, trim_task, return_exceptions=True)

    def wake(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        if getattr(self, "_wake", None) is not None:
            self._wake.set()

    async def _pick_up(self) -> None:
        active = sum(1 for run_id, t in self._tasks.items() if not t.done() and not self.executors[run_id].following)
        for run in await asyncio.to_thread(list_runs, self.store, statuses=("queued", "running"),
                                              kinds=None):
            current = self._tasks.get(run.id)
            if current is not None and not current.done():
                continue  # running here, or followed here (a follower takes the run over if its owner dies)
            if self.max_runs is not None and active >= self.max_runs:
                break
            try:
                task = await asyncio.to_thread(get_task, self.store, run.task_name, run.task_version)
                executor = RunExecutor(self.store, run, task, self.writer)
            except Exception as exc:  # noqa: BLE001 - this run can't start; the others still do
                if is_storage_failure(exc):
                    raise
                await self._fail_to_start(run.id, exc)
                continue
            active += 1
            self.executors[run.id] = executor
            self._tasks[run.id] = asyncio.create_task(executor.execute())

    async def _shutdown(self, writer_task: asyncio.Task) -> None:
        # Back to the queue, not paused: the next start of the server picks them up again.
        for executor in self.executors.values():
            executor.stop("queued", "server stopped; continues when it starts again")
        running = [t for t in self._tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=10)
        writer_task.cancel()
        await asyncio.gather(writer_task, return_exceptions=True)
        await self.writer.flush()

    def progress(self) -> dict[int, dict[str, Any]]:
        return {run_id: ex.snapshot() for run_id, ex in self.executors.items()}

    def pause_all(self, reason: str = "paused by user") -> None:
        for executor in self.executors.values():
            executor.stop("paused", reason)

    async def _report(self, on_progress: ProgressCallback, interval: float) -> None:
        while True:
            await _call(on_progress, self.progress())
            await asyncio.sleep(interval)


async def _call(callback: ProgressCallback, value: Any) -> None:
    result = callback(value)
    if asyncio.iscoroutine(result):
        await result

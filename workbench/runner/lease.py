"""Who runs a run: this process keeps its leases, notices when another process took a run over
(this one was held up past its lease), and obeys pause and cancel asked from any process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from workbench.runner.stopping import Stop
from workbench.store.faults import is_storage_failure
from workbench.store import Store
from workbench.store.runs import LEASE_SECONDS, OWNER, RunInfo, get_run, renew_leases

log = logging.getLogger(__name__)

CONTROL_POLL_S = 0.5


async def keep_leases(store: Store) -> None:
    """Saving results renews a run's lease; this keeps it while a slow model has none to save,
    so another process does not take a run that is still going here."""
    while True:
        await asyncio.sleep(LEASE_SECONDS / 4)
        try:
            await asyncio.to_thread(renew_leases, store)
        except Exception as exc:  # the database is away for a moment: try again at the next beat
            log.warning("could not renew run leases: %s", exc)


class RunControl:
    """One run's watch: its state as any process set it, and whether it is still this process's."""

    def __init__(self, store: Store, run_id: int, stop: Stop, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.run_id = run_id
        self.stop = stop
        self.clock = clock
        self._checked_at = clock()  # when the run was last seen to be ours

    async def watch(self) -> str | None:
        """Until the run leaves "running" (returns its new state, the run stopped with its reason) or
        another process took it over (returns None)."""
        while True:
            await asyncio.sleep(CONTROL_POLL_S)
            try:
                current = await asyncio.to_thread(get_run, self.store, self.run_id)
            except Exception as exc:  # noqa: BLE001 - the database away for a moment: look again
                if not is_storage_failure(exc):
                    raise
                log.warning("run %s: could not read its state: %s", self.run_id, exc)
                continue
            if current.status != "running":
                self.stop.request(current.status, current.status_reason)
                return current.status
            if self.taken_over(current):
                return None

    async def still_ours(self) -> bool:
        """Normally the watch has just looked. If it hasn't for a while, this process was held up
        (stopped, swapped out) and its lease may have lapsed: look before asking the model."""
        if self.clock() - self._checked_at < CONTROL_POLL_S * 4:
            return True
        current = await asyncio.to_thread(get_run, self.store, self.run_id)
        return not self.taken_over(current)

    def taken_over(self, current: RunInfo) -> bool:
        """Another process holds the run's lease: stop asking the model and leave the run's state to
        its new owner."""
        self._checked_at = self.clock()
        if current.lease_owner in (None, OWNER):
            return False
        self.stop.taken_over()
        return True

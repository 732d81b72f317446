"""Why a run stops, and the state it ends in.

Many things may stop a run (a pause or cancel from any process, a fatal answer, the endpoint gone,
the store failing, a bug): the first reason given is the one recorded. Two ends are apart: the run
was taken over by another process (its state is the new owner's), or deleted with its dataset.
"""

from __future__ import annotations

import asyncio

from workbench.runner.breaker import Breaker
from workbench.store.results import ResultRow

GONE = "its dataset was deleted while it ran"
UNREACHABLE = "endpoint unreachable"


class Stop:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.reason: tuple[str, str | None] | None = None  # (status, reason) to record
        self.lost = False  # another process took the run over while this one ran it
        self.gone = False  # the run was deleted (with its dataset) while it ran

    def request(self, status: str, reason: str | None) -> None:
        if self.reason is None:
            self.reason = (status, reason)
        self._event.set()

    def taken_over(self) -> None:
        self.lost = True
        self._event.set()

    def deleted(self) -> None:
        self.gone = True
        self.request("cancelled", GONE)

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


def final_state(stop: Stop, breaker: Breaker) -> tuple[str, str | None, list[ResultRow]]:
    """For a run neither taken over nor deleted: (status, reason) to record, and the failures the
    breaker held that count as errors (none unless the run ran to its end)."""
    if stop.reason is None and breaker.tripped:
        stop.reason = ("paused", UNREACHABLE)
    if stop.reason is None:
        return "completed", None, breaker.success()
    breaker.drop()
    status, reason = stop.reason
    return status, reason, []

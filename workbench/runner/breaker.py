"""The circuit breaker: transport failures are held back until the endpoint proves it is alive.

A record that failed to reach the endpoint is not yet its own error: if the endpoint stays down
(``threshold`` such records in a row) the run pauses and those records stay pending; as soon as any
answer comes, the held failures were real and are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.providers.base import HTTP, TIMEOUT, ProviderError
from workbench.store.results import ResultRow


def is_transport_failure(exc: ProviderError) -> bool:
    status = exc.http_status
    return exc.kind == TIMEOUT or (exc.kind == HTTP and (status is None or status == 429 or status >= 500))


@dataclass
class Breaker:
    threshold: int
    consecutive: int = 0
    tripped: bool = False
    held: list[ResultRow] = field(default_factory=list)

    def failure(self, row: ResultRow) -> None:
        self.consecutive += 1
        self.held.append(row)
        if self.consecutive >= self.threshold:
            self.tripped = True

    def success(self) -> list[ResultRow]:
        """The endpoint answered: what was held back were real per-record failures."""
        self.consecutive = 0
        released, self.held = self.held, []
        return released

    def drop(self) -> None:
        """The run stops: the held records stay pending, asked again on resume."""
        self.held.clear()

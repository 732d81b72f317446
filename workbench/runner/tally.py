"""A run's figures as it goes: results, errors by kind, tokens; rates and ETA over this session."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from workbench.domain.progress import Progress, cost, rates
from workbench.store.results import ResultRow
from workbench.store.runs import RunInfo


class Tally:
    """Absolute counters (what the store will hold) and where this session started, for rates."""

    def __init__(self, run: RunInfo, clock: Callable[[], float] = time.monotonic):
        self.run = run
        self.clock = clock
        self.total = run.total
        self.done = self.errors = self.tokens_in = self.tokens_out = 0
        self.errors_by_kind: dict[str, int] = {}
        self._session_start = clock()
        self._base = (0, 0)  # (done, tokens out) when this session started
        self._base_active = run.active_seconds

    def start_session(self, figures: dict[str, Any]) -> None:
        """Counting goes on from ``figures`` (a recount of the stored results); rates start now."""
        self.done, self.errors = figures["done"], figures["errors"]
        self.tokens_in, self.tokens_out = figures["tokens_in"], figures["tokens_out"]
        self.errors_by_kind = dict(figures["errors_by_kind"])
        self._base = (self.done, self.tokens_out)
        self._session_start = self.clock()

    def mirror(self, run: RunInfo) -> None:
        """Another process runs it: its stored figures are the figures."""
        self.total = run.total
        self.done, self.errors, self.tokens_in, self.tokens_out = run.done, run.errors, run.tokens_in, run.tokens_out

    def count(self, row: ResultRow) -> None:
        self.done += 1
        self._add(row, 1)

    def replaced(self, old: ResultRow, new: ResultRow) -> None:
        """The store refused ``old`` and holds ``new`` (an error) instead: same record, other figures."""
        self._add(old, -1)
        self._add(new, 1)

    def _add(self, row: ResultRow, sign: int) -> None:
        self.tokens_in += sign * row.tokens_in
        self.tokens_out += sign * row.tokens_out
        if row.status == "error":
            self.errors += sign
            kind = str(row.error_kind)  # an error always has its kind
            left = self.errors_by_kind.get(kind, 0) + sign
            if left > 0:
                self.errors_by_kind[kind] = left
            else:
                self.errors_by_kind.pop(kind, None)

    def expected_tokens(self) -> int:
        """What the next request will likely spend (for a tokens-per-minute limit)."""
        return self.tokens_out // max(self.done, 1) + 200

    def snapshot(self, status: str) -> dict[str, Any]:
        elapsed = self.clock() - self._session_start
        per_s, tok_s, eta = rates(self.done - self._base[0], self.tokens_out - self._base[1], elapsed,
                                  self.total - self.done)
        model = self.run.model
        progress = Progress(
            run_id=self.run.id, model_id=self.run.model_id, dataset_id=self.run.dataset_id, status=status,
            total=self.total, done=self.done, errors=self.errors, errors_by_kind=dict(self.errors_by_kind),
            tokens_in=self.tokens_in, tokens_out=self.tokens_out,
            cost=cost(self.tokens_in, self.tokens_out, model.price_in, model.price_out),
            records_per_s=round(per_s, 2), tokens_per_s=round(tok_s, 1),
            eta_seconds=round(eta, 1) if eta is not None else None,
        )
        return progress.to_dict() | {"active_seconds": self._base_active + elapsed}

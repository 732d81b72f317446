"""Run progress: the figures people watch (done/total, rates, ETA, cost). Pure arithmetic."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

TERMINAL_STATES = ("completed", "failed", "cancelled")
RUN_STATES = ("queued", "running", "paused", *TERMINAL_STATES)


@dataclass
class Progress:
    run_id: int
    model_id: str
    dataset_id: str
    status: str
    total: int
    done: int = 0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    records_per_s: float = 0.0
    tokens_per_s: float = 0.0
    eta_seconds: float | None = None
    status_reason: str | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rates(done_in_session: int, tokens_out_in_session: int, elapsed_s: float,
          remaining: int) -> tuple[float, float, float | None]:
    """(records/s, output tok/s, ETA seconds) over the current session; no ETA until there's a rate."""
    if elapsed_s <= 0 or done_in_session <= 0:
        return 0.0, 0.0, None
    per_s = done_in_session / elapsed_s
    return per_s, tokens_out_in_session / elapsed_s, remaining / per_s


def cost(tokens_in: int, tokens_out: int, price_in_per_m: float, price_out_per_m: float) -> float:
    return (tokens_in * price_in_per_m + tokens_out * price_out_per_m) / 1e6

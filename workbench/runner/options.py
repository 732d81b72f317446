"""What a run is asked to do beyond its model and task: kept with the run, so a resume does the same."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RunOptions:
    limit: int | None = None
    fresh: bool = False
    concurrency: int | None = None
    timeout_s: float = 120.0
    max_attempts: int = 4
    down_after: int = 5  # consecutive transport failures that mean "the endpoint is down"
    few_shot: int = 0  # golden examples shown before each record (in-context learning)
    examples_from: str | None = None  # dataset the examples come from (default: the run's own)
    example_ids: list[str] | None = None  # fixed when the run is created, so a resume shows the same ones
    # Those examples as shown, [record id, record, answer] each: frozen when the run first starts, so a
    # corrected golden answer changes neither a resume nor what the run's traces say it was sent.
    examples: list[list[Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunOptions":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

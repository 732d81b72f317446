"""A transparent rule-based scorer: a floor to compare models against.

It reads the record's fields (not the prompt), so it only answers tasks
shaped like candidate screening; anything else is reported as unsupported.
"""

from __future__ import annotations

import time

import orjson

from workbench.providers.base import (
    INVALID_RESPONSE, UNSUPPORTED, Generation, Provider, ProviderError, Request,
)
from workbench.providers.baseline_rules import score_candidate

SUPPORTED_FIELDS = {"recommendation", "trajectory", "pedigree", "reasoning"}


class BaselineProvider(Provider):
    name = "baseline"
    label = "rules"
    structured_modes = ("rules",)
    cacheable = False  # it answers from the record, while the cache is keyed by the prompt
    form_fields = ("max_concurrency",)

    async def generate(self, request: Request, mode: str | None = None) -> Generation:
        wanted = set((request.schema or {}).get("properties", {}))
        if request.schema is not None and not wanted <= SUPPORTED_FIELDS:
            raise ProviderError(UNSUPPORTED, "the rule-based baseline only answers candidate screening, "
                                             f"not fields {sorted(wanted - SUPPORTED_FIELDS)}")
        started = time.perf_counter()
        try:
            text = orjson.dumps(score_candidate(request.record)).decode()
        except Exception as exc:  # noqa: BLE001 - a record the rules can't read is that record's error
            raise ProviderError(INVALID_RESPONSE, f"the baseline could not score this record: "
                                                  f"{type(exc).__name__}: {exc}"[:500]) from None
        return Generation(
            text=text,
            latency_s=time.perf_counter() - started,
            structured_output="rules",
            finish_reason="stop",
        )

"""Rate limits and retry delays."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque


class RateLimiter:
    """Requests/min by even spacing; tokens/min by a sliding 60-second window."""

    def __init__(self, requests_per_minute: int | None = None, tokens_per_minute: int | None = None):
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.tokens_per_minute = tokens_per_minute
        self._next_start = 0.0
        self._spent: deque[tuple[float, int]] = deque()
        self._spent_total = 0
        self._lock = asyncio.Lock()

    async def acquire(self, expected_tokens: int = 0) -> None:
        if not self.interval and not self.tokens_per_minute:
            return
        async with self._lock:
            if self.interval:
                wait = self._next_start - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                # From the real start: a late wake-up never makes the next gap shorter than the interval.
                self._next_start = time.monotonic() + self.interval
            if self.tokens_per_minute:
                await self._wait_for_tokens(expected_tokens)

    async def _wait_for_tokens(self, expected: int) -> None:
        while True:
            now = time.monotonic()
            while self._spent and now - self._spent[0][0] >= 60:
                self._spent_total -= self._spent.popleft()[1]
            if not self._spent or self._spent_total + expected <= (self.tokens_per_minute or 0):
                return
            await asyncio.sleep(60 - (now - self._spent[0][0]) + 0.01)

    def spend(self, tokens: int) -> None:
        if self.tokens_per_minute and tokens:
            self._spent.append((time.monotonic(), tokens))
            self._spent_total += tokens


def backoff_delay(attempt: int, retry_after_s: float | None = None, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with full jitter; a server's Retry-After wins (within reason)."""
    if retry_after_s is not None:
        return min(retry_after_s, 120.0) + random.uniform(0, 0.1)
    return random.uniform(base / 2, min(cap, base * 2 ** (attempt - 1)))

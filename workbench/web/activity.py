"""How busy the server is with requests, for background work that can wait for a quiet moment.

At 1M records the Metrics warm-up takes ~4.4 s of CPU on both cores; run while a page loads, it
made the page's first rows take 3.3 s instead of 1.3 (bench/page_bench.py). The warm-up asks
``wait_for_quiet`` before such a step."""

from __future__ import annotations

import threading
import time

QUIET_S = 0.5  # no request for this long: a page has finished loading
LONGEST_S = 30.0  # a server that is never quiet (pages polling) still warms up after this


class RequestActivity:
    """HTTP requests in flight (``ActivityMiddleware`` counts them) and when the last one ended."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0
        self._last = time.monotonic()  # a server just started counts as busy for QUIET_S

    def started(self) -> None:
        with self._changed:
            self._in_flight += 1

    def ended(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._last = time.monotonic()
            self._changed.notify_all()

    def wait_for_quiet(self, quiet_s: float = QUIET_S, longest_s: float = LONGEST_S) -> bool:
        """Block until no request has been in flight for ``quiet_s`` (True), or ``longest_s`` has
        passed (False)."""
        deadline = time.monotonic() + longest_s
        with self._changed:
            while True:
                now = time.monotonic()
                idle = now - self._last if self._in_flight == 0 else 0.0
                if idle >= quiet_s:
                    return True
                if now >= deadline:
                    return False
                self._changed.wait(min(deadline - now, quiet_s - idle))


class ActivityMiddleware:
    """Counts each HTTP request (not the live socket, which stays open) while it is answered."""

    def __init__(self, app, activity: RequestActivity) -> None:
        self.app = app
        self.activity = activity

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.activity.started()
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.ended()

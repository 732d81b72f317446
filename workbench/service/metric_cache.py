"""The Metrics figures of recent selections, and each run's counts, kept until what they count changes.

Every change the figures depend on leaves a trace the version reads in one query: a result write
or retry is an event of its run, an annotation (undo and bulk actions too) an annotation event, a
run's counters and cost its row, a dataset imported again a new creation time. The version is read
before computing, so figures computed while a result lands are computed again next time."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

from workbench.store.db import Store, store_cache

T = TypeVar("T")


class MetricCache:
    """Values by key, each valid for one version; at most ``MAX_ENTRIES`` (then it starts afresh)."""

    MAX_ENTRIES = 64

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[Hashable, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Hashable, make: Callable[[], T]) -> T:
        """The value for ``key`` at ``version``, made (outside the lock) when there is none yet."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            return entry[1]  # type: ignore[return-value]
        value = make()
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (version, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def metric_cache(store: Store) -> MetricCache:
    return store_cache(store, "service.metrics", MetricCache)


def figures(store: Store, key: Hashable, version: Hashable, make: Callable[[], dict]) -> dict:
    """The figures for ``key`` at ``version``, a copy each time (callers add to them)."""
    return copy.deepcopy(metric_cache(store).get(("figures", key), version, make))

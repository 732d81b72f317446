"""What a server does for big datasets as it starts, in the background: count the grid's default
selection (grid/counts.warm_up), then read the Metrics figures' per-run scans once, so the first
page and the first Metrics panel a user opens find them built."""

from __future__ import annotations

import logging
from collections.abc import Callable

from workbench.domain.errors import WorkbenchError
from workbench.grid.counts import warm_up as warm_counts
from workbench.store.db import Store

log = logging.getLogger(__name__)


def warm_up(store: Store, wait_for_quiet: Callable[[], object] = lambda: None) -> list[str]:
    """Warm the counts, then the metrics, of the newest big datasets; returns their ids. Each
    dataset's metrics (seconds of CPU at 1M records) first wait for ``wait_for_quiet``: a page
    being loaded gets its rows and counts before the warm-up takes the cores."""
    from workbench.service.metrics import compute_metrics

    warmed = warm_counts(store)  # from saved marks, a fraction of a second: what the page asks next
    for dataset_id in warmed:
        wait_for_quiet()
        try:
            # The cached part (the few-shot rows are not kept), a run's scan at a time (see ``scans``).
            compute_metrics(store, dataset_id, None, scans=1)
        except WorkbenchError:
            continue  # e.g. its runs were deleted meanwhile: nothing to warm
        except Exception as exc:  # noqa: BLE001 - a warm-up never stops the server; the panel computes later
            log.warning("metrics warm-up of %s stopped: %s", dataset_id, exc)
            break
    return warmed

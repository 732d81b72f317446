"""The server's request activity, which the warm-up waits on: a page loading as the server starts
gets the cores first (service/warm_up.py, web/activity.py)."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from workbench.service import warm_up as warm_up_module
from workbench.web.activity import RequestActivity
from workbench.web.app import create_app


def test_quiet_once_no_request_has_been_in_flight_for_a_while():
    activity = RequestActivity()
    started = time.monotonic()
    assert activity.wait_for_quiet(quiet_s=0.05, longest_s=5)
    assert time.monotonic() - started >= 0.04  # a server just started counts as busy for a moment
    assert activity.wait_for_quiet(quiet_s=0.0, longest_s=5)


def test_not_quiet_while_a_request_is_in_flight_and_gives_up_after_the_longest_wait():
    activity = RequestActivity()
    activity.started()
    started = time.monotonic()
    assert not activity.wait_for_quiet(quiet_s=0.01, longest_s=0.1)  # never quiet: it goes on anyway
    assert time.monotonic() - started >= 0.09
    waited: list[bool] = []
    waiter = threading.Thread(target=lambda: waited.append(activity.wait_for_quiet(quiet_s=0.02, longest_s=5)))
    waiter.start()
    time.sleep(0.1)
    assert not waited  # still in flight
    activity.ended()
    waiter.join(5)
    assert waited == [True]


def test_the_app_counts_each_request_while_it_is_answered(settings):
    app = create_app(settings, execute_runs=False)
    seen: list[int] = []
    activity = app.state.activity
    original = activity.started

    def started() -> None:
        original()
        seen.append(activity._in_flight)

    activity.started = started  # type: ignore[method-assign]
    with TestClient(app, headers={"X-Workbench-Client": "tests"}, base_url="http://localhost") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/no-such-route").status_code == 404  # refused requests count too
    assert seen == [1, 1] and activity._in_flight == 0


def test_the_metrics_warm_up_waits_for_quiet_after_the_counts(store, monkeypatch):
    steps: list[str] = []
    monkeypatch.setattr(warm_up_module, "warm_counts", lambda _store: steps.append("counts") or ["big"])
    import workbench.service.metrics as metrics

    monkeypatch.setattr(metrics, "compute_metrics",
                        lambda _store, dataset_id, _models, scans: steps.append(f"metrics {dataset_id} {scans}"))
    assert warm_up_module.warm_up(store, lambda: steps.append("quiet")) == ["big"]
    assert steps == ["counts", "quiet", "metrics big 1"]

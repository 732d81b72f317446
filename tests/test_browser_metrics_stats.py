"""The Metrics panel says how sure each figure is (issue #16 item 1), in real Chromium: an accuracy with
its n and 95% interval, "small sample" where it is small, and a paired test's verdict in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from tests.test_browser_columns import call
from tests.test_browser_panels import skewed_workbench

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")


def test_metrics_show_intervals_and_a_paired_verdict(page, tmp_path, fake):  # noqa: F811
    url, dataset, columns = skewed_workbench(page, tmp_path, fake)
    first = columns[0]
    for i in range(12):  # people preferred the first column on 12 records: the sign test can tell
        call(url, "/api/annotations", "POST", {"dataset_id": dataset, "record_id": f"s{i + 10:02d}",
                                               "field": "preference", "value": first})
    metrics = call(url, f"/api/metrics?dataset_id={dataset}&models={','.join(columns)}")
    accuracy = metrics["accuracy"][first]
    assert (accuracy["correct"], accuracy["n"], accuracy["small"]) == (5, 5, True)
    [paired] = metrics["paired"]
    assert (paired["sign"]["a"], paired["sign"]["b"]) == (12, 0) and paired["sign"]["p"] < 0.001

    page.click("#open-metrics")
    page.wait_for_selector("#metrics-body h3:has-text('Paired tests')")
    text = page.inner_text("#metrics-body")
    low = round(accuracy["low"] * 100)
    assert f"95% CI {low}–100%" in text and "small sample" in text
    assert "is better: 12 vs 0 preferred, p < 0.001" in text
    assert "too few to tell" in text  # right / wrong: A and B differ on one labelled record
    assert "95% CI" in page.inner_text("#metrics-body section:has(h3:has-text('Agreement: recommendation'))")
    assert page.locator("#metrics-dialog th:empty").count() == 0

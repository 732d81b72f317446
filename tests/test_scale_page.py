"""The page over 200,000 records × 3 models in Chromium: first rows, scrolling deep, switching
filters and annotating all work (testkit/page_timings.py); the times are printed (and saved), never
asserted: bench/page_bench.py takes their medians."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import POSTGRES
from tests.test_browser import ARTIFACTS, CHROMIUM, browser, page, workbench, _stop_servers  # noqa: F401

RECORDS = 200_000

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(POSTGRES, reason="the page is the same on both stores; bench/scale_bench.py covers PostgreSQL"),
]


def test_the_page_stays_quick_at_200k_records(page, tmp_path):  # noqa: F811
    from testkit.page_timings import measure
    from testkit.scale import MODELS, build
    from workbench.config import Settings

    build(Settings.load(data_dir=tmp_path / "data"), RECORDS, tmp_path / "big.jsonl")
    url = workbench(tmp_path)
    figures = measure(page, url, RECORDS, MODELS)
    lines = [f"{name}: {seconds * 1000:.0f} ms" for name, seconds in figures.items()]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "scale-page.txt").write_text(f"{RECORDS:,} records x 3 models\n" + "\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    page.screenshot(path=str(ARTIFACTS / "scale-page.png"))

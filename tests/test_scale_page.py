"""The page over 200,000 records × 3 models in Chromium: first rows, scrolling deep, switching
filters and annotating all work; the times are printed (and saved), never asserted."""

from __future__ import annotations

import time
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
    from testkit.scale import MODELS, populate
    from workbench.config import Settings
    from testkit.synthetic import write_jsonl
    from workbench.store.datasets import import_dataset
    from workbench.service.workspace import open_workspace

    source = tmp_path / "big.jsonl"
    write_jsonl(source, RECORDS)
    settings = Settings.load(data_dir=tmp_path / "data")
    store = open_workspace(settings)
    import_dataset(store, source, name="big")
    store.close()
    populate(settings, "big")
    url = workbench(tmp_path)
    figures = {}

    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(".row .cell .verdict")
    figures["open the page: first rows"] = time.perf_counter() - started
    for model in MODELS:
        page.wait_for_selector(f"input[data-model={model}]:checked")
    assert page.inner_text("#dataset-count") == "200,000 records"
    page.wait_for_function("document.querySelector('#filter-tabs button[data-filter=all] .count').textContent")
    figures["open the page: filter counts"] = time.perf_counter() - started
    assert int(page.inner_text("#filter-tabs button[data-filter=all] .count").replace(",", "")) == RECORDS
    assert page.evaluate("document.querySelectorAll('.row').length") < 80  # only visible rows are in the DOM

    started = time.perf_counter()
    page.click("#filter-tabs button[data-filter=differences]")
    page.wait_for_function("document.querySelector('#filter-tabs button.active').dataset.filter === 'differences'"
                           " && [...document.querySelectorAll('.row')].every(r => r.classList.contains('disagree'))")
    figures["switch to differences only"] = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(10):  # scroll down through ten pages of the server's results
        page.evaluate("document.querySelector('#grid').scrollTop += 100 * 58")
        page.wait_for_timeout(50)
    page.wait_for_function("document.querySelectorAll('.row').length > 0")
    figures["scroll ten pages down"] = time.perf_counter() - started

    seq = page.evaluate("document.querySelectorAll('.row')[8].dataset.seq")
    started = time.perf_counter()
    page.click(f".row[data-seq='{seq}'] button[data-act=golden] >> nth=0")
    page.wait_for_selector(f".row[data-seq='{seq}'] button[data-act=golden].on")
    figures["mark golden (shown)"] = time.perf_counter() - started

    started = time.perf_counter()
    page.click("#filter-tabs button[data-filter=golden]")
    page.wait_for_function("document.querySelector('#filter-tabs button.active').dataset.filter === 'golden'"
                           " && document.querySelectorAll('.row').length > 0")
    figures["switch to golden only"] = time.perf_counter() - started

    lines = [f"{name}: {seconds * 1000:.0f} ms" for name, seconds in figures.items()]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "scale-page.txt").write_text(f"{RECORDS:,} records x 3 models\n" + "\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    page.screenshot(path=str(ARTIFACTS / "scale-page.png"))

"""What a user feels of the page over a big dataset in Chromium: first rows, counts, a filter switch,
ten pages of scrolling, a mark shown. Shared by tests/test_scale_page.py (prints them, asserts what
the page shows) and bench/page_bench.py (medians of several cold starts)."""

from __future__ import annotations

import time

ROW_PX = 58  # --row-h: a page of the server's results is 100 rows
ACTIVE_TAB = "document.querySelector('#filter-tabs button[aria-selected=true], #filter-tabs button.active')"


def measure(page, url: str, records: int, models: tuple[str, ...]) -> dict[str, float]:
    """Seconds for each step, from a page that has never seen the server's data."""
    figures: dict[str, float] = {}
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(".row .cell .verdict")
    figures["first rows"] = time.perf_counter() - started
    for model in models:
        page.wait_for_selector(f"input[data-model={model}]:checked")
    assert page.inner_text("#dataset-count") == f"{records:,} records"
    page.wait_for_function("document.querySelector('#filter-tabs button[data-filter=all] .count').textContent")
    figures["filter counts"] = time.perf_counter() - started
    assert int(page.inner_text("#filter-tabs button[data-filter=all] .count").replace(",", "")) == records
    assert page.evaluate("document.querySelectorAll('.row').length") < 80  # only visible rows are in the DOM

    started = time.perf_counter()
    page.click("#filter-tabs button[data-filter=differences]")
    page.wait_for_function(f"{ACTIVE_TAB}.dataset.filter === 'differences'"
                           " && [...document.querySelectorAll('.row')].every(r => r.classList.contains('disagree'))")
    figures["differences only"] = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(10):  # ten pages of the server's results, each waited for
        before = page.evaluate("document.querySelector('#grid-spacer').style.height")
        page.evaluate(f"document.querySelector('#grid').scrollTop += 100 * {ROW_PX}")
        page.wait_for_function("(before) => document.querySelector('#grid-spacer').style.height !== before"
                               " || document.querySelector('#grid').scrollTop + document.querySelector('#grid')"
                               ".clientHeight < parseFloat(before) - 2000", arg=before)
    page.wait_for_function("document.querySelectorAll('.row').length > 0")
    figures["ten pages of scrolling"] = time.perf_counter() - started

    # A row on screen whose first answer is not golden yet (1% are), so the click sets the mark.
    seq = page.evaluate("[...document.querySelectorAll('.row')].slice(8).find((r) =>"
                        " !r.querySelector('button[data-act=golden]').classList.contains('on')).dataset.seq")
    started = time.perf_counter()
    page.click(f".row[data-seq='{seq}'] button[data-act=golden] >> nth=0")
    page.wait_for_selector(f".row[data-seq='{seq}'] button[data-act=golden].on")
    figures["a mark shown"] = time.perf_counter() - started

    started = time.perf_counter()
    page.click("#filter-tabs button[data-filter=golden]")
    page.wait_for_function(f"{ACTIVE_TAB}.dataset.filter === 'golden' && document.querySelectorAll('.row').length > 0")
    figures["golden only"] = time.perf_counter() - started
    return figures

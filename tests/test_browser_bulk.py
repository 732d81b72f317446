"""Bulk actions and review by expected value in real Chromium: mark the filtered records reviewed
from the Bulk… dialog after its count, undo the whole group with ↶; the value order says why."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from tests.test_browser_page import sample_with_runs

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")


def counts(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/api/workbench?dataset_id=sample-candidates&models=a,b&limit=1") as answer:
        return json.load(answer)["counts"]


def test_bulk_reviewed_from_the_page_and_undo_it(page, tmp_path, fake):  # noqa: F811 (fixtures)
    url = sample_with_runs(tmp_path, fake)
    differing = counts(url)["differences"]
    assert differing > 0
    page.goto(url)
    page.wait_for_function("document.querySelectorAll('.row .cell .verdict').length > 5")
    page.click("#filter-tabs button[data-filter=differences]")
    page.wait_for_function(f"document.querySelectorAll('.row').length === Math.min({differing}, "
                           "document.querySelectorAll('.row').length) && location.search.includes('differences')")
    page.click("#bulk-open")
    page.wait_for_selector("#bulk-dialog .bulk-count:has-text('This will mark')")
    text = page.inner_text("#bulk-dialog .bulk-count")
    assert f"mark {differing:,} of {differing:,} records" in text and "filter: differences" in text
    assert page.evaluate("document.activeElement.id") == "bulk-action"  # focus is in the dialog
    page.click("#bulk-confirm")
    page.wait_for_selector(f"#toast:has-text('Marked {differing:,} records')")
    assert counts(url)["unreviewed"] == 100 - differing
    page.click("#undo")
    page.wait_for_selector(f"#toast:has-text('Undid reviewed on {differing:,} records')")
    assert counts(url)["unreviewed"] == 100


def test_review_by_expected_value_says_why_on_hover(page, tmp_path, fake):  # noqa: F811 (fixtures)
    url = sample_with_runs(tmp_path, fake)
    page.goto(url)
    page.wait_for_function("document.querySelectorAll('.row .cell .verdict').length > 5")
    page.select_option("#sort", "value")
    page.wait_for_function("document.querySelector('.row .rec-value:not([hidden])')")
    why = page.get_attribute(".row .rec-value", "title")
    assert why.startswith("Why here: 2 columns disagree on") and "nobody reviewed it" in why

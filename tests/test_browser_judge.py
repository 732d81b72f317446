"""The judge in real Chromium: started from the Judge dialog on two shown columns, live progress to the
end, its suggestion in review mode apart from people's choice, and its agreement once people prefer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, add_model, workbench
from tests.test_browser_a11y import AXE, check
from tests.test_browser_columns import call, upload_dataset
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from tests.test_judge_runner import judging  # noqa: F401 (fixture: the fake judge prefers one answer)
from testkit.synthetic import write_jsonl

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")
RECORDS = 30


def test_a_judge_from_the_dialog_to_review_mode(page, tmp_path, fake, judging):  # noqa: F811
    fake.config.latency_ms = 1
    url = workbench(tmp_path, add_model("alpha", "Alpha", fake.base_url), add_model("beta", "Beta", fake.base_url),
                    add_model("judge", "Judge Model", fake.base_url))
    upload = tmp_path / "candidates.jsonl"
    write_jsonl(upload, RECORDS, seed=3)
    page.goto(url)
    dataset = upload_dataset(page, url, upload, RECORDS)
    page.check("input[data-model=alpha]")
    page.check("input[data-model=beta]")
    page.uncheck("input[data-model=judge]")  # the judge model only judges here
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")

    page.click("#open-judge")
    page.wait_for_selector("#judge-dialog[open] #judge-start:not([disabled])")
    assert "impartial" in page.input_value("#judge-rubric")  # the default rubric, editable
    page.select_option("#judge-model", "judge")
    page.fill("#judge-rubric", "Prefer the answer whose <b>reasoning</b> is shorter.")
    page.click("#judge-start")
    page.wait_for_selector("#judge-list .judge-item .judge-state.completed", timeout=30_000)
    item = page.inner_text("#judge-list .judge-item")
    assert "Judge Model judges" in item and "no human preferences yet" in item and "position consistency" in item
    assert page.locator("#judge-list b").count() == 0  # the rubric is text, never markup
    problems: dict[str, list[str]] = {}
    if AXE.exists():
        check(page, "Judge dialog", problems)
    [judge] = call(url, f"/api/judges?dataset_id={dataset}")
    assert judge["done"] == judge["total"] > 0
    assert page.locator(".job").count() == 2  # the judge's runs are no answer runs in the runs panel
    page.click("#judge-close")

    page.click("#filter-tabs [data-filter=differences]")
    # The grid's rows now carry the judge's suggestions (its ⚖ badge), the first row included.
    page.wait_for_selector(".row .rec-judge:not([hidden])", timeout=10_000)
    page.locator(".row").first.locator(".rec-judge:not([hidden])").wait_for(timeout=10_000)
    page.keyboard.press("r")
    page.wait_for_selector("#review:not([hidden])")
    page.wait_for_selector("#review .judge-suggestion", timeout=10_000)
    suggestion = page.inner_text("#review .judge-suggestions")
    assert "⚖" in suggestion and ("judge suggests" in suggestion or "inconsistent" in suggestion)
    assert "Alpha" in suggestion and "judge judge" in suggestion  # the pair and the judge model named
    if AXE.exists():
        check(page, "review mode with the judge's suggestion", problems)
    assert problems == {}, problems
    # People's choice stays theirs: prefer column 1, then the judge's agreement counts that record.
    page.locator("#review button[data-prefer]").first.click()
    page.wait_for_selector("#review button[data-prefer].on")
    page.keyboard.press("Escape")
    page.click("#open-judge")
    page.wait_for_selector("#judge-list li:has-text('agrees with people')", timeout=10_000)
    assert "n = 1" in page.inner_text("#judge-list")
    # Its records in the grid: the judge's two columns, differences only, each row with its ⚖ badge.
    page.click("#judge-list .judge-show")
    page.wait_for_selector("#filter-tabs [data-filter=differences][aria-selected=true]")
    page.locator(".row").first.locator(".rec-judge:not([hidden])").wait_for(timeout=10_000)
    assert page.locator("#grid-head .model-col").count() == 2

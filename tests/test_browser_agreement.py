"""People agree with people, in real Chromium: the Metrics dialog says "Only one annotator so far"
until a second person judges the same answers, then shows their agreement (percent, Cohen's κ with
its interval, Krippendorff's α); its button drills the grid to the records where they disagree."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, add_model, shot, workbench
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from tests.test_browser_columns import call
from workbench.service.workspace import sample_path

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")


def judge(url: str, dataset: str, seq: int, value: str, author: str, model: str = "a") -> None:
    call(url, "/api/annotations", "POST", {"dataset_id": dataset, "record_id": f"cand-{seq:06d}", "model_id": model,
                                           "field": "judgement", "value": value, "author": author})


def test_metrics_shows_annotator_agreement_and_drills_to_disagreements(page, tmp_path, fake):  # noqa: F811
    fake.config.latency_ms = 1
    url = workbench(tmp_path, "import\x00" + str(sample_path()),
                    *(add_model(m, m.upper(), fake.base_url) for m in ("a", "b")))
    dataset = call(url, "/api/datasets")[0]["id"]
    page.goto(url)
    for model in ("a", "b"):
        page.check(f"input[data-model={model}]")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=60_000)
    for seq in range(1, 11):
        judge(url, dataset, seq, "good", "ann")
    page.click("#open-metrics")
    page.wait_for_selector("#metrics-people .agreement-none")
    assert "Only one annotator so far" in page.inner_text("#metrics-people")
    page.click("#metrics-close")
    for seq in range(1, 11):  # bob disagrees on 3, 6 and 9
        judge(url, dataset, seq, "wrong" if seq % 3 == 0 else "good", "bob")
    page.click("#open-metrics")
    page.wait_for_selector("#metrics-people .agreement-section[data-field=judgement]")
    text = page.inner_text("#metrics-people")
    assert "ann, bob" in text and "Cohen's κ" in text and "Krippendorff's α" in text
    assert "70.0% (7 of 10)" in text and "small sample" in text
    assert "comes by chance (70% expected here)" in text  # ann always said good: κ is 0
    page.locator("#metrics-people").scroll_into_view_if_needed()
    shot(page, "metrics-annotator-agreement")
    button = page.locator("#metrics-people button.agreement-drill[data-field=judgement]")
    assert button.inner_text() == "Show the 3 records where they disagree"
    button.focus()
    page.keyboard.press("Enter")  # by keyboard too
    page.wait_for_selector("#vf-chips .chip:has-text('Annotators disagree on judgement (3)')")
    assert not page.evaluate("document.querySelector('#metrics-dialog').open")
    page.wait_for_function("document.querySelectorAll('.row').length === 3")
    shown = page.locator(".row .rec").all_inner_texts()
    assert len(shown) == 3

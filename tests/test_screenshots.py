"""The README's pictures, taken from the page itself so they can't drift: the bundled sample run by three
models answering differently, with marks and a fix, at 1440×900 — the main view, review mode and Metrics —
saved under docs/screenshots/ (SQLite lane only: the pictures are the same on PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import POSTGRES, ROOT
from tests.test_browser import CHROMIUM
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from tests.test_browser_a11y import open_review, three_model_scene

SHOTS = ROOT / "docs" / "screenshots"
MOST_BYTES = 300_000  # fails beyond this; they come out at 120–200 KB (a README picture, not a photograph)

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium"),
              pytest.mark.skipif(POSTGRES, reason="the pictures are taken once, on SQLite")]


def save(tab, name: str) -> Path:
    """Takes the picture without a caret, hover state or toast. PNG keeps text sharp; main.jpg is a JPEG
    (quality 80) because its many coloured emoji make the PNG about 300 KB."""
    tab.mouse.move(0, 899)
    tab.wait_for_selector("#toast", state="hidden")
    SHOTS.mkdir(parents=True, exist_ok=True)
    kind = "jpeg" if name == "main" else "png"
    path = SHOTS / f"{name}.{'jpg' if kind == 'jpeg' else 'png'}"
    tab.screenshot(path=str(path), type=kind, caret="hide", animations="disabled",
                   **({"quality": 80} if kind == "jpeg" else {}))
    assert path.stat().st_size <= MOST_BYTES, f"{path} is {path.stat().st_size} bytes"
    return path


def test_the_readme_pictures(page, tmp_path, fake):  # noqa: F811 (fixtures)
    page.set_viewport_size({"width": 1440, "height": 900})
    three_model_scene(page, tmp_path, fake)
    page.wait_for_selector("#conn:has-text('live')")
    page.wait_for_function("document.querySelectorAll('.row .diff').length > 3")
    # The counts have caught up with the marks (four golden, one fixed).
    page.wait_for_selector("#filter-tabs button[data-filter=golden] .count:text-is('4')", timeout=15_000)
    page.wait_for_selector("#filter-tabs button[data-filter=fixed] .count:text-is('1')", timeout=15_000)
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("j")  # a focused row, as while working
    page.keyboard.press("j")
    save(page, "main")

    open_review(page, lambda: page.keyboard.press("r"))
    save(page, "review")
    page.keyboard.press("Escape")
    page.wait_for_selector("#review", state="hidden")

    page.click("#open-metrics")
    page.wait_for_function("document.querySelectorAll('#metrics-dialog[open] table').length >= 3")
    save(page, "metrics")

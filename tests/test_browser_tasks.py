"""The task editor in Chromium: a new task from the sentiment starting point, the preview following
the typing (a field picked from the suggestions), Try on 3 records against the fake server, Save
and v1 in the version list; a run of a task whose fields the dataset lacks asks to confirm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, add_model, browser, shot, workbench, _stop_servers  # noqa: F401 (fixtures)
from testkit.fake_openai import FakeOpenAIServer, FaultConfig

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")

REVIEWS = [{"id": f"rev-{i}", "product": "Kettle", "text": text, "stars": stars} for i, (text, stars) in enumerate([
    ("Boils fast and looks great. Love it.", 5), ("Broke after a week.", 1), ("It is a kettle.", 3),
    ("Loud, but quick.", 4)])]


@pytest.fixture
def page(browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.dialogs = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.accept()))
    yield page
    context.close()
    assert errors == [], errors


def test_write_a_task_preview_try_save_and_run(page, tmp_path):
    upload = tmp_path / "reviews.jsonl"
    upload.write_text("".join(json.dumps(r) + "\n" for r in REVIEWS), encoding="utf-8")
    with FakeOpenAIServer(FaultConfig(latency_ms=5)) as fake:
        url = workbench(tmp_path, "import\x00" + str(upload), add_model("fake", "Fake 1", fake.base_url))
        page.goto(url)
        page.wait_for_selector("#dataset-count:has-text('4 records')")
        page.wait_for_selector("#task-select option[value=candidate-screening]", state="attached")
        page.wait_for_selector("#task-fit:has-text('fields missing')")  # the default task: before any run
        assert "work_history" in page.get_attribute("#task-fit", "title")

        page.click("#task-new")
        page.wait_for_selector("#task-dialog[open]")
        page.select_option("#task-starter", "sentiment")
        page.fill("#task-name", "review-sentiment")
        preview = page.locator("#task-preview")
        page.wait_for_selector("#task-preview:has-text('Text: Boils fast and looks great. Love it.')")
        assert "Product: Kettle" in preview.inner_text()
        page.wait_for_selector("#task-field-chips button:has-text('stars')")
        shot(page, "tasks-editor")

        # Typing "{{ st" offers the dataset's fields; Enter takes one, and the preview follows.
        page.click("#task-user")
        page.keyboard.press("Control+End")
        page.keyboard.type("\nStars: {{ st")
        page.wait_for_selector("#task-suggest:not([hidden]) li:has-text('stars')")
        page.keyboard.press("Enter")
        assert page.input_value("#task-user").endswith("Stars: {{ stars }}")
        page.wait_for_selector("#task-preview:has-text('Stars: 5')")
        page.keyboard.type(" {{ title }}")  # a field the reviews lack: shown inline
        page.wait_for_selector("#task-problems:has-text('title')")
        page.keyboard.press("Control+End")
        for _ in " {{ title }}":
            page.keyboard.press("Backspace")
        page.wait_for_function("!document.querySelector('#task-problems').textContent.includes('title')")
        page.keyboard.type(" #")
        page.click("#task-field-chips button:has-text('id')")  # a chip inserts the field at the cursor
        assert page.input_value("#task-user").endswith("Stars: {{ stars }} #{{ id }}")
        page.wait_for_selector("#task-preview:has-text('Stars: 5 #rev-0')")

        # The schema builder: a yes/no field appears in the JSON Schema view.
        page.click("#task-add-field")
        page.keyboard.type("recommend")
        page.locator("#task-fields tr").last.locator("select").select_option("yes-no")
        assert '"recommend"' in page.input_value("#task-schema-json")

        page.select_option("#task-try-model", "fake")
        page.select_option("#task-try-count", "3")
        page.click("#task-try")
        page.wait_for_function("document.querySelectorAll('#task-try-results li.try-ok').length === 3")
        tried = page.inner_text("#task-try-results")
        assert "rev-0" in tried and "rev-2" in tried and '"sentiment"' in tried and '"recommend"' in tried
        assert fake.total == 3

        page.click("#task-save")
        page.wait_for_selector(".task-message:has-text('Saved review-sentiment v1')")
        page.wait_for_selector("#task-versions li:has-text('v1')")
        assert "first version" in page.inner_text("#task-versions")
        shot(page, "tasks-saved")
        v1_user = page.input_value("#task-user")
        page.fill("#task-user", v1_user + "\nBe brief.")
        page.click("#task-save")
        page.wait_for_selector(".task-message:has-text('Saved review-sentiment v2')")
        page.wait_for_selector("#task-versions li:has-text('v2'):has-text('user template')")
        page.click("#task-versions button[aria-label='open v1 in the editor']")
        page.wait_for_function(f"document.querySelector('#task-user').value === {json.dumps(v1_user)}")
        page.click("#task-dialog .dialog-head button[aria-label=Close]")
        assert page.input_value("#task-select") == "review-sentiment"
        assert page.inner_text("#task-select option:checked") == "review-sentiment v2"
        page.wait_for_function("document.querySelector('#task-fit').textContent === ''")

        # The built-in candidate task on reviews: the run asks first, naming the missing fields.
        page.select_option("#task-select", "candidate-screening")
        page.check("input[data-model=fake]")
        page.click("#run-selected")
        page.wait_for_function("document.querySelectorAll('.job').length >= 1")
        assert page.dialogs and "work_history" in page.dialogs[0] and "title" in page.dialogs[0]

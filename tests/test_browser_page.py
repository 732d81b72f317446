"""The page's state in real Chromium (#15 items 3, 4, 7, 8, 10, 11, 13 keys): a dataset switch starts
clean, the upload's id field, preselected models and reasons next to impossible actions, the verdict
filter's form, rename and delete, the view in the address (reload, a new browser), number keys 1–9."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, add_model, workbench
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from testkit.synthetic import write_jsonl

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")


def call(url: str, path: str):
    request = urllib.request.Request(f"{url}{path}", headers={"X-Workbench-Client": "tests"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def sample_with_runs(tmp_path, fake, models=("a", "b")) -> str:  # noqa: F811 (the fixture passed on)
    """The 100-record sample, models `models`, each run on it (so the grid has columns to compare)."""
    from workbench.service.workspace import sample_path

    fake.config.latency_ms = 1
    url = workbench(tmp_path, "import\x00" + str(sample_path()), *(add_model(m, m.upper(), fake.base_url) for m in models))
    for model in models:
        subprocess.run([sys.executable, "-m", "workbench", "run", "--dataset", "sample-candidates", "--model", model,
                        "--data-dir", str(tmp_path / "data")], check=True, capture_output=True)
    return url


def new_tab(browser):  # noqa: F811 (fixture)
    """A fresh browser context (no localStorage), failing the test on a page error; dialogs are accepted."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.accept()))
    tab.dialogs = []
    return context, tab


def active_filter(tab) -> str:
    return tab.get_attribute("#filter-tabs button[aria-selected=true]", "data-filter")


def test_switching_datasets_clears_what_belongs_to_the_old_one(page, tmp_path, fake):  # noqa: F811
    url = sample_with_runs(tmp_path, fake)
    other = tmp_path / "other.jsonl"
    write_jsonl(other, 12, seed=4)
    page.goto(f"{url}/?dataset=sample-candidates")
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    page.click("#compare")
    page.wait_for_selector("#compare-panel:not([hidden]) table")
    page.click("#filter-tabs button[data-filter=differences]")
    page.wait_for_function("document.querySelector('#filter-tabs button[aria-selected=true]').dataset.filter === 'differences'")
    page.fill("#few-shot", "3")
    page.fill("#search", "engineer")
    page.wait_for_function("location.search.includes('q=engineer')")
    page.set_input_files("#upload-input", str(other))
    page.wait_for_selector("#dataset-count:has-text('12 records')")
    assert page.is_hidden("#compare-panel")
    assert active_filter(page) == "all"
    assert page.input_value("#few-shot") == "0"
    assert page.input_value("#search") == ""
    assert "No records match" not in page.inner_text("#grid-empty")
    # Back: the sample again (a dataset switch is a step in the history).
    page.go_back()
    page.wait_for_selector("#dataset-count:has-text('100 records')")


def test_upload_with_duplicate_ids_names_a_field_to_try_and_the_id_field_works(page, tmp_path, fake):  # noqa: F811
    url = workbench(tmp_path, add_model("a", "A", fake.base_url))
    upload = tmp_path / "dupes.jsonl"
    upload.write_text("".join(json.dumps({"id": i % 3, "uid": f"u-{i}", "name": f"N{i}", "title": "T"}) + "\n"
                              for i in range(9)))
    page.goto(url)
    page.set_input_files("#upload-input", str(upload))
    page.wait_for_selector("#upload-errors li.hint")
    errors = page.inner_text("#upload-errors")
    assert "null" not in errors and "duplicate ids" in errors
    assert "“uid”" in errors
    assert page.evaluate("document.activeElement.id") == "upload-id-field"
    page.fill("#upload-id-field", "uid")
    page.set_input_files("#upload-input", str(upload))
    page.wait_for_selector("#upload-text:has-text('Imported 9 records')")
    assert page.inner_text("#upload-errors") == ""
    records = call(url, f"/api/datasets/{call(url, '/api/datasets')[0]['id']}/records")
    assert "u-0" in json.dumps(records)


def test_a_demo_like_page_preselects_its_models_and_says_why_run_cannot(page, tmp_path, fake):  # noqa: F811
    from workbench.service.workspace import sample_path

    url = workbench(tmp_path, "import\x00" + str(sample_path()), add_model("smollm2", "SmolLM2", fake.base_url),
                    add_model("baseline", "Baseline", fake.base_url))
    page.goto(url)
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    page.wait_for_selector("input[data-model=smollm2]:checked")
    page.wait_for_selector("input[data-model=baseline]:checked")
    # No columns with verdicts yet: the verdict filter says why instead of showing empty selects.
    assert page.is_hidden("#vf-form")
    assert page.get_attribute("#vf-add", "aria-disabled") == "true"
    page.uncheck("input[data-model=smollm2]")
    page.uncheck("input[data-model=baseline]")
    page.click("#run-selected")
    page.wait_for_selector("#run-why:has-text('Pick at least one model')")
    assert page.evaluate("document.activeElement.dataset.model") == "smollm2"
    page.click("#compare")
    page.wait_for_selector(".why[data-for=compare]:has-text('at least two columns')")
    page.click("#open-review")
    page.wait_for_selector(".why[data-for=review]:has-text('Nothing to review')")
    page.keyboard.press("1")  # picks smollm2 again: the reason goes
    page.wait_for_selector("input[data-model=smollm2]:checked")
    page.wait_for_function("document.querySelector('#run-why').textContent === ''")


def test_the_verdict_filter_opens_as_a_form_and_only_chips_are_filters(page, tmp_path, fake):  # noqa: F811
    url = sample_with_runs(tmp_path, fake)
    page.goto(url)
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    page.wait_for_function("document.querySelector('#vf-add').getAttribute('aria-disabled') === 'false'")
    assert page.is_hidden("#vf-model") and page.is_hidden("#vf-form")
    page.click("#vf-add")
    page.wait_for_selector("#vf-form:not([hidden])")
    assert page.get_attribute("#vf-add", "aria-expanded") == "true"
    page.click("#vf-cancel")
    assert page.is_hidden("#vf-form")
    assert page.inner_text("#vf-chips") == ""
    page.click("#vf-add")
    page.select_option("#vf-model", index=0)
    page.select_option("#vf-field", "recommendation")
    value = page.eval_on_selector("#vf-value", "s => s.options[0].value")
    page.select_option("#vf-value", value)
    page.click("#vf-apply")
    page.wait_for_selector(f"#vf-chips .chip:has-text({json.dumps(value)})")
    assert page.is_hidden("#vf-form")
    page.wait_for_function("new URLSearchParams(location.search).get('verdict') !== null")


def test_rename_and_delete_the_dataset_from_the_page(browser, tmp_path, fake):  # noqa: F811
    url = workbench(tmp_path, add_model("a", "A", fake.base_url))
    for name, count in (("first", 5), ("second", 7)):
        write_jsonl(tmp_path / f"{name}.jsonl", count, seed=count)
    context, tab = new_tab(browser)
    try:
        tab.goto(url)
        tab.set_input_files("#upload-input", str(tmp_path / "first.jsonl"))
        tab.wait_for_selector("#dataset-count:has-text('5 records')")
        tab.set_input_files("#upload-input", str(tmp_path / "second.jsonl"))
        tab.wait_for_selector("#dataset-count:has-text('7 records')")
        tab.click("#dataset-rename")
        tab.fill("#dataset-rename-input", "Renamed <b>set</b>")
        tab.press("#dataset-rename-input", "Escape")  # Esc cancels
        assert tab.inner_text("#dataset-name") == "second"
        tab.click("#dataset-rename")
        tab.fill("#dataset-rename-input", "Renamed <b>set</b>")
        tab.press("#dataset-rename-input", "Enter")
        tab.wait_for_selector("#datasets li.active .name:text-is('Renamed <b>set</b>')")
        assert tab.inner_text("#dataset-name") == "Renamed <b>set</b>"
        # The list items are buttons: the keyboard reaches them.
        assert tab.locator("#datasets li button.dataset-pick").count() == 2
        tab.click("#dataset-delete")
        tab.wait_for_selector("#dataset-count:has-text('5 records')")
        assert "Renamed <b>set</b>" in tab.dialogs[0] and "7 records" in tab.dialogs[0]
        assert tab.locator("#datasets li").count() == 1
        tab.click("#dataset-delete")
        tab.wait_for_selector("#dataset-name:text-is('No dataset yet')")
        assert tab.locator("#datasets li.muted").count() == 1
        assert call(url, "/api/datasets") == []
        # No dataset: each action says why next to itself.
        tab.click("#run-selected")
        tab.wait_for_selector("#run-why:has-text('Upload or pick a dataset')")
        tab.click("#open-metrics")
        tab.wait_for_selector(".why[data-for=metrics]:has-text('Pick a dataset first')")
        tab.click("#export")
        tab.wait_for_selector(".why[data-for=export]:has-text('nothing to export')")
        assert tab.is_hidden("#export-menu")
        assert tab.errors == []
    finally:
        context.close()


def test_the_view_is_in_the_address_reload_and_a_new_browser_show_it(browser, tmp_path, fake):  # noqa: F811
    url = sample_with_runs(tmp_path, fake, models=("a", "b", "c"))
    context, tab = new_tab(browser)
    try:
        tab.goto(url)
        tab.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 3")
        tab.click("#columns-button")
        tab.uncheck("#columns-menu fieldset:has(legend:text-is('B')) input")
        tab.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
        tab.keyboard.press("Escape")
        tab.click("#filter-tabs button[data-filter=differences]")
        tab.select_option("#sort", "disagreement")
        tab.wait_for_function("new URLSearchParams(location.search).get('sort') === 'disagreement'")
        tab.locator(".row").nth(1).locator(".rec").click()
        tab.wait_for_selector("#detail:not([hidden])")
        tab.wait_for_function("new URLSearchParams(location.search).get('record') !== null")
        address = tab.url
        params = urllib.parse.parse_qs(urllib.parse.urlparse(address).query)
        assert params["filter"] == ["differences"] and params["dataset"] == ["sample-candidates"]
        assert "b" not in params["columns"][0].split(",")

        def view(t):
            t.wait_for_selector("#detail:not([hidden]) #detail-title:not(:empty)")
            t.wait_for_function("document.querySelectorAll('.row').length > 0")
            return {
                "filter": active_filter(t), "sort": t.input_value("#sort"),
                "columns": t.eval_on_selector_all("#grid-head .model-col", "cs => cs.map((c) => c.dataset.column)"),
                "rows": t.eval_on_selector_all(".row .rec", "rs => rs.slice(0, 10).map((r) => r.innerText)"),
                "record": t.inner_text("#detail-title"),
            }

        before = view(tab)
        tab.reload()
        assert view(tab) == before
        fresh_context, fresh = new_tab(browser)
        try:
            fresh.goto(address)
            assert view(fresh) == before
            assert fresh.errors == []
        finally:
            fresh_context.close()
        # Closing the record panel takes the record out of the address.
        tab.click("#detail-close")
        tab.wait_for_function("new URLSearchParams(location.search).get('record') === null")
        assert tab.errors == []
    finally:
        context.close()


def test_junk_in_the_address_falls_back_without_a_page_error(page, tmp_path, fake):  # noqa: F811
    url = sample_with_runs(tmp_path, fake, models=("a",))
    junk = ("columns=nope,run:999999,%3Cimg%3E&filter=bogus&sort=sideways&diff=nofield&verdict=x&verdict=a:nofield=Yes"
            "&drill=confusion&drill_column=zz&record=no-such-record&q=" + "x" * 900)
    page.goto(f"{url}/?dataset=no-such-dataset&{junk}")
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    page.goto(f"{url}/?dataset=sample-candidates&{junk}")
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    page.wait_for_function("document.querySelectorAll('.row').length > 0")
    assert active_filter(page) == "all"
    assert page.is_hidden("#detail")
    # The tabs by keyboard: one tab stop, arrows move and choose.
    page.focus("#filter-tabs button[aria-selected=true]")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("new URLSearchParams(location.search).get('filter') === 'differences'")
    assert active_filter(page) == "differences"
    assert page.evaluate("document.activeElement.dataset.filter") == "differences"


def test_number_key_7_toggles_the_seventh_model(page, tmp_path, fake):  # noqa: F811
    from workbench.service.workspace import sample_path

    models = [f"m{i}" for i in range(1, 9)]
    url = workbench(tmp_path, "import\x00" + str(sample_path()), *(add_model(m, m.upper(), fake.base_url) for m in models))
    page.goto(url)
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    page.wait_for_selector("#model-picks label:nth-child(8) .key:text-is('8')")
    assert not page.is_checked("input[data-model=m7]")  # more than three models: none preselected
    page.focus("#grid")
    page.keyboard.press("7")
    page.wait_for_selector("input[data-model=m7]:checked")
    page.keyboard.press("7")
    page.wait_for_function("!document.querySelector('input[data-model=m7]').checked")


def test_a_metrics_figure_drills_the_grid_and_the_drill_is_in_the_address(page, tmp_path, fake):  # noqa: F811
    url = sample_with_runs(tmp_path, fake)
    page.goto(url)
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    page.click("#open-metrics")
    figure = page.locator("#metrics-dialog button.drill[aria-label*='disagree']").first
    figure.wait_for()
    count = int(figure.get_attribute("aria-label").split(" ")[0])
    figure.click()
    page.wait_for_selector("#vf-chips .chip")
    assert f"({count})" in page.inner_text("#vf-chips")
    page.wait_for_function("new URLSearchParams(location.search).get('drill') === 'pair'")
    view = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(page.url).query))
    query = urllib.parse.urlencode({"dataset_id": view["dataset"], "models": view["columns"], "limit": 500, "counts": "false",
                                    **{k: v for k, v in view.items() if k.startswith("drill")}})
    drilled = call(url, f"/api/workbench?{query}")
    assert drilled["drill"]["count"] == count == len(drilled["results"])
    first = json.dumps(drilled["results"][0]["candidate_name"])  # this API client gets the legacy names

    def shows_the_drill():
        page.wait_for_function(f"document.querySelector('.row .title') && document.querySelector('.row .title').textContent === {first}")
        assert page.evaluate("document.querySelectorAll('.row').length") <= count

    shows_the_drill()
    page.reload()
    page.wait_for_selector("#vf-chips .chip")
    shows_the_drill()
    page.click("#vf-chips .chip")
    page.wait_for_function("document.querySelector('#vf-chips').textContent === ''")
    page.wait_for_function("!location.search.includes('drill')")

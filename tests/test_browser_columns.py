"""Columns are runs, in real Chromium: two runs of one model side by side, a star on the answer it was
given to only, differences between the two, both traces in the record panel, the comparison CSV."""

from __future__ import annotations

import csv
import json
import urllib.request
from pathlib import Path

import pytest

from tests.test_browser import CHROMIUM, add_model, shot, workbench
from tests.test_browser import _stop_servers, browser, fake, page  # noqa: F401 (fixtures)
from testkit.synthetic import write_jsonl

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium")
RECORDS = 40


def call(url: str, path: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(f"{url}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", "X-Workbench-Client": "tests"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def upload_dataset(tab, url: str, path: Path, records: int) -> str:
    """Upload ``path`` from the page; returns the new dataset's id once the page shows its records."""
    tab.set_input_files("#upload-input", str(path))
    tab.wait_for_selector(f"#dataset-count:has-text('{records} records')")
    return call(url, "/api/datasets")[0]["id"]


def cell(tab, row: int, column: str):
    return tab.locator(".row").nth(row).locator(f".cell[data-model='{column}']")


def differing(url: str, dataset: str, columns: list[str], fields: list[str]) -> set[str]:
    """The records whose answers differ between the columns, worked out here from the rows."""
    grid = call(url, f"/api/workbench?dataset_id={dataset}&models={','.join(columns)}&limit=500&counts=false")
    out = set()
    for row in grid["results"]:
        cells = [row["models"][c] for c in columns]
        if all(c and c["status"] == "ok" for c in cells) and any(len({c[f] for c in cells}) > 1 for f in fields):
            out.add(row["candidate_id"])
    return out


def open_prompts(tab, row: int, columns: int) -> list[str]:
    """Opens the record panel of a row and each column's "Prompt sent": the traces' texts."""
    tab.locator(".row").nth(row).locator(".rec").click()  # the record's side (the cells have buttons)
    tab.wait_for_function(f"[...document.querySelectorAll('#detail .trace-slot')].length === {columns} && "
                           "[...document.querySelectorAll('#detail .trace-slot')].every((s) => s.innerText.trim())",
                           timeout=10_000)
    traces = tab.locator("#detail .trace-slot")
    for i in range(columns):
        traces.nth(i).locator("summary:has-text('Prompt sent')").click()
    return [traces.nth(i).inner_text() for i in range(columns)]


def comparison_csv(tab) -> list[dict]:
    """The comparison report, downloaded through the page's Export menu."""
    tab.click("#export")
    with tab.expect_download() as info:
        tab.click("#export-menu a[data-kind=comparison]")
    with open(info.value.path(), encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_two_runs_of_one_model_are_two_columns(page, tmp_path, fake):  # noqa: F811 (fixtures)
    fake.config.latency_ms = 1
    url = workbench(tmp_path, add_model("gemma", "Gemma 3 4B", fake.base_url))
    upload = tmp_path / "candidates.jsonl"
    write_jsonl(upload, RECORDS, seed=5)
    page.goto(url)
    dataset = upload_dataset(page, url, upload, RECORDS)
    page.check("input[data-model=gemma]")
    page.wait_for_selector("#grid-head .model-col:has-text('not run')")  # picked, never run: a column still
    page.click("#run-selected")
    page.wait_for_selector(".job .status.completed", timeout=30_000)
    first = f"run:{call(url, f'/api/columns?dataset_id={dataset}')[0]['run_id']}"
    page.wait_for_selector(f"#grid-head .model-col[data-column='{first}']")
    page.wait_for_function("document.querySelectorAll('.row .cell .verdict').length > 5")

    # A star on the first record's answer, given by run 1.
    cell(page, 0, first).locator("button[data-act=golden]").click()
    cell(page, 0, first).locator("button[data-act=golden].on").wait_for()

    # The model is changed (another model name, another temperature) and run again, fresh: the fake
    # server answers per model name, so some answers differ.
    model = call(url, "/api/models/gemma")
    call(url, "/api/models/gemma", "PUT", {**model, "model": "gemma-v2", "params": {**model["params"], "temperature": 0.5}})
    page.check("#fresh")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=30_000)
    runs = call(url, f"/api/columns?dataset_id={dataset}")
    second = f"run:{runs[0]['run_id']}"
    assert {r["id"] for r in runs} == {first, second} and first != second

    # Side by side, run 1 first; the finished run was not hidden by the new one.
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    page.wait_for_function("document.querySelectorAll('.row .cell .pending').length === 0")
    heads = page.locator("#grid-head .model-col")
    assert [heads.nth(i).get_attribute("data-column") for i in range(2)] == [first, second]
    labels = {r["id"]: r["label"] for r in runs}
    for i, column in enumerate((first, second)):
        assert labels[column] in heads.nth(i).inner_text()
        assert labels[column] in heads.nth(i).get_attribute("title")  # the full label on hover
    assert "Gemma 3 4B" in labels[first] and "Gemma 3 4B" in labels[second]
    page.wait_for_selector(f"#stats:has-text('{RECORDS} / {RECORDS}')")  # completed, per column
    jobs = page.inner_text("#jobs")
    assert labels[first] in jobs and labels[second] in jobs  # job cards show the run's label

    # The star is on the answer it was given to, not on the other run's answer of that record.
    assert cell(page, 0, first).locator("button[data-act=golden].on").count() == 1
    assert cell(page, 0, second).locator("button[data-act=golden].on").count() == 0
    shot(page, "columns-two-runs")

    # The columns stay after a reload (kept per dataset).
    page.reload()
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    assert [heads.nth(i).get_attribute("data-column") for i in range(2)] == [first, second]

    # Review mode: its number keys prefer a column (the run), not a model.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("r")
    page.wait_for_selector("#review:not([hidden])")
    page.keyboard.press("2")
    page.wait_for_selector(f"#review button[data-prefer='{second}'].on")
    page.keyboard.press("Escape")
    page.wait_for_selector("#review", state="hidden")
    grid = call(url, f"/api/workbench?dataset_id={dataset}&models={first},{second}&limit=1&counts=false")
    assert grid["results"][0]["preference"] == second

    # Metrics name the columns by their labels.
    page.click("#open-metrics")
    page.wait_for_selector("#metrics-body h3:has-text('Accuracy')")
    metrics = page.inner_text("#metrics-body")
    assert labels[first] in metrics and labels[second] in metrics
    page.click("#metrics-close")

    # Differences only: exactly the records where the two runs' verdicts differ.
    fields = list(call(url, f"/api/workbench?dataset_id={dataset}&limit=1")["task"]["verdict_fields"])
    expected = differing(url, dataset, [first, second], fields)
    assert 0 < len(expected) < RECORDS
    page.click("#filter-tabs button[data-filter=differences]")
    page.wait_for_selector(f"#filter-tabs button[data-filter=differences] .count:text-is('{len(expected)}')")
    page.wait_for_function("[...document.querySelectorAll('.row')].length > 0 && "
                           "[...document.querySelectorAll('.row')].every((r) => r.classList.contains('disagree'))")
    shown = page.locator(".row .rec .sub").all_inner_texts()  # the subtitle falls back to the record id
    assert 0 < len(shown) <= len(expected)

    # The record panel: both answers, each with the prompt it was sent (the trace).
    page.click("#filter-tabs button[data-filter=all]")
    title = grid["results"][0]["candidate_name"]  # the first record (the rows of all records are back)
    page.locator(".row").nth(0).locator(f".title:text-is({json.dumps(title, ensure_ascii=False)})").wait_for()
    prompts = open_prompts(page, 0, 2)
    runs_shown = page.eval_on_selector_all("#detail .trace-slot", "slots => slots.map((s) => s.dataset.run)")
    assert runs_shown == [first.split(":")[1], second.split(":")[1]]
    assert all(title in p for p in prompts)  # the user message sent names the candidate
    shot(page, "columns-record-traces")
    page.click("#detail-close")

    # The comparison report from the page's link holds both columns.
    rows = comparison_csv(page)
    assert len(rows) == RECORDS
    header = list(rows[0])
    assert any(h.startswith(first) for h in header) and any(h.startswith(second) for h in header)


def test_the_column_picker_by_keyboard(page, tmp_path, fake):  # noqa: F811 (fixtures)
    fake.config.latency_ms = 1
    url = workbench(tmp_path, add_model("a", "Model A", fake.base_url), add_model("b", "Model B", fake.base_url))
    upload = tmp_path / "candidates.jsonl"
    write_jsonl(upload, 20, seed=3)
    page.goto(url)
    dataset = upload_dataset(page, url, upload, 20)
    page.check("input[data-model=a]")
    page.check("input[data-model=b]")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    # A model no longer picked to run keeps its column: picks say what ▶ Run runs, not what is shown.
    page.uncheck("input[data-model=b]")
    page.wait_for_timeout(300)
    assert page.locator("#grid-head .model-col").count() == 2

    page.focus("#columns-button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#columns-menu:not([hidden])")
    assert page.get_attribute("#columns-button", "aria-expanded") == "true"
    assert page.locator("#columns-menu fieldset legend").all_inner_texts() == ["Model A", "Model B"]
    shot(page, "columns-picker")
    menu = page.inner_text("#columns-menu")
    assert "completed" in menu and "20/20" in menu
    focused = page.evaluate("document.activeElement.dataset.column")
    assert focused and focused.startswith("run:")
    page.keyboard.press("Space")  # unticks the first run: its column goes
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 1")
    assert page.evaluate("document.activeElement.dataset.column") == focused  # the focus stays put
    page.keyboard.press("Space")  # ...and comes back
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    page.keyboard.press("Escape")
    page.wait_for_selector("#columns-menu", state="hidden")
    assert page.evaluate("document.activeElement.id") == "columns-button"

    # A verdict filter names a column by its label and filters on that run's answers.
    columns = call(url, f"/api/columns?dataset_id={dataset}")
    run_b = next(c for c in columns if c["model_id"] == "b")
    page.click("#vf-add")  # opens the filter's form
    options = page.eval_on_selector_all("#vf-model option", "os => os.map((o) => [o.value, o.textContent])")
    assert [run_b["id"], run_b["label"]] in options
    page.select_option("#vf-model", run_b["id"])
    page.select_option("#vf-field", "recommendation")
    grid = call(url, f"/api/workbench?dataset_id={dataset}&models={run_b['id']}&limit=500&counts=false")
    value = grid["results"][0]["models"][run_b["id"]]["recommendation"]
    page.select_option("#vf-value", value)
    page.click("#vf-apply")
    page.wait_for_selector(f"#vf-chips .chip:has-text({json.dumps(run_b['label'], ensure_ascii=False)})")
    wanted = sum(1 for r in grid["results"] if r["models"][run_b["id"]]["recommendation"] == value)
    page.wait_for_function(f"document.querySelectorAll('.row').length === {wanted}")


def reviews(count: int) -> list[dict]:
    moods = ["Boils fast and looks great. Love it.", "Broke after a week.", "It is a kettle.", "Loud, but quick.",
             "Too pricey for what it does.", "Perfect for tea, every morning."]
    return [{"id": f"rev-{i:03d}", "product": ["Kettle", "Toaster", "Blender"][i % 3],
             "text": f"{moods[i % len(moods)]} (order {i})", "stars": 1 + i % 5} for i in range(count)]


def test_workflow_4_bring_your_own_task(page, tmp_path, fake):  # noqa: F811 (fixtures)
    """Upload reviews → a sentiment task written in the editor, previewed, tried, saved → two models run
    → the prompt edited (v2) and one model run again → three columns, two of one model → differences
    only → a record's panel shows both prompts → the comparison CSV holds the three columns."""
    fake.config.latency_ms = 1
    upload = tmp_path / "reviews.jsonl"
    upload.write_text("".join(json.dumps(r) + "\n" for r in reviews(RECORDS)), encoding="utf-8")
    url = workbench(tmp_path, add_model("one", "Model One", fake.base_url), add_model("two", "Model Two", fake.base_url))
    page.goto(url)
    dataset = upload_dataset(page, url, upload, RECORDS)

    page.click("#task-new")
    page.wait_for_selector("#task-dialog[open]")
    page.select_option("#task-starter", "sentiment")
    page.fill("#task-name", "reviews")
    page.wait_for_selector("#task-preview:has-text('Product: Kettle')")
    page.select_option("#task-try-model", "one")
    page.select_option("#task-try-count", "3")
    page.click("#task-try")
    page.wait_for_function("document.querySelectorAll('#task-try-results li.try-ok').length === 3")
    page.click("#task-save")
    page.wait_for_selector(".task-message:has-text('Saved reviews v1')")
    page.click("#task-dialog .dialog-head button[aria-label=Close]")

    page.check("input[data-model=one]")
    page.check("input[data-model=two]")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=30_000)

    # v2 of the prompt, run by model one only.
    page.click("#task-edit")
    page.wait_for_selector("#task-dialog[open]")
    page.fill("#task-user", page.input_value("#task-user") + "\nJudge the text only, not the product.")
    page.wait_for_selector("#task-preview:has-text('not the product')")
    page.click("#task-save")
    page.wait_for_selector(".task-message:has-text('Saved reviews v2')")
    page.click("#task-dialog .dialog-head button[aria-label=Close]")
    page.uncheck("input[data-model=two]")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 3", timeout=30_000)

    runs = {(r["model_id"], r["task"]["version"]): r for r in call(url, f"/api/columns?dataset_id={dataset}")}
    assert set(runs) == {("one", 1), ("two", 1), ("one", 2)}
    order = [runs["one", 1]["id"], runs["one", 2]["id"], runs["two", 1]["id"]]  # model one's runs side by side
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 3")
    page.wait_for_function("document.querySelectorAll('.row .cell .pending').length === 0")
    heads = page.locator("#grid-head .model-col")
    assert [heads.nth(i).get_attribute("data-column") for i in range(3)] == order
    assert "v2" in heads.nth(1).get_attribute("title") and "v1" in heads.nth(0).get_attribute("title")
    shot(page, "workflow4-three-columns")

    expected = differing(url, dataset, order, ["sentiment"])
    assert 0 < len(expected) < RECORDS
    page.click("#filter-tabs button[data-filter=differences]")
    page.wait_for_selector(f"#filter-tabs button[data-filter=differences] .count:text-is('{len(expected)}')")
    page.wait_for_function("[...document.querySelectorAll('.row')].length > 0 && "
                           "[...document.querySelectorAll('.row')].every((r) => r.classList.contains('disagree'))")
    first_shown = page.locator(".row").nth(0).locator(".sub").inner_text()
    assert first_shown in expected  # the subtitle falls back to the record id

    prompts = open_prompts(page, 0, 3)
    assert "not the product" in prompts[1] and "not the product" not in prompts[0] + prompts[2]
    assert all("Text: " in p for p in prompts)
    shot(page, "workflow4-record-prompts")
    page.click("#detail-close")

    rows = comparison_csv(page)
    assert len(rows) == RECORDS
    assert all(any(h.startswith(column) for h in rows[0]) for column in order)


def test_a_column_of_another_task_shows_its_own_answer(page, tmp_path, fake):  # noqa: F811 (fixtures)
    """Two tasks on one dataset side by side: the second column's cells and record panel show that
    task's fields (not "?" for the grid task's verdict)."""
    fake.config.latency_ms = 1
    url = workbench(tmp_path, add_model("a", "Model A", fake.base_url))
    upload = tmp_path / "candidates.jsonl"
    write_jsonl(upload, 10, seed=2)
    call(url, "/api/tasks", "POST", {
        "name": "seniority", "system": "Judge seniority.", "user": "{{ name }}: {{ title }}",
        "output_schema": {"type": "object", "properties": {"level": {"type": "string", "enum": ["junior", "senior"]}},
                          "required": ["level"]}, "primary_verdict": "level"})
    page.goto(url)  # after the task is made: the picker lists it
    dataset = upload_dataset(page, url, upload, 10)
    page.check("input[data-model=a]")
    page.click("#run-selected")  # the default task, candidate screening
    page.wait_for_selector(".job .status.completed", timeout=30_000)
    page.select_option("#task-select", "seniority")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2")
    page.wait_for_function("document.querySelectorAll('.row .cell .pending').length === 0")
    second = page.locator("#grid-head .model-col").nth(1).get_attribute("data-column")
    grid = call(url, f"/api/workbench?dataset_id={dataset}&models={second}&limit=1&counts=false")
    level = grid["results"][0]["models"][second]["level"]
    assert cell(page, 0, second).locator(".verdict").inner_text().endswith(level)
    prompts = open_prompts(page, 0, 2)
    assert "Judge seniority." in prompts[1] and "Judge seniority." not in prompts[0]
    assert f"level: {level}" in page.inner_text("#detail-body")

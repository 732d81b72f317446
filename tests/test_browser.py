"""The page in real Chromium (Debian's, driven by Playwright): workflows 1 and 2, and XSS safety."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, wait_for_http
from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from testkit.synthetic import write_jsonl

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
XSS = '<img src=x onerror="window.__xss=1">'

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")  # not session: Playwright's sync API holds an event loop while open
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    yield page
    context.close()
    assert errors == [], errors


@pytest.fixture
def fake():
    with FakeOpenAIServer(FaultConfig(latency_ms=60)) as server:
        yield server


def workbench(tmp_path, *args: str) -> str:
    port = free_port()
    cli = [sys.executable, "-m", "workbench"]
    data = ["--data-dir", str(tmp_path / "data")]
    for command in args:
        subprocess.run([*cli, *command.split("\x00"), *data], check=True, capture_output=True)
    proc = subprocess.Popen([*cli, "serve", "--port", str(port), *data], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for_http(f"http://127.0.0.1:{port}/api/health", 30, proc)
    workbench.procs.append(proc)
    return f"http://127.0.0.1:{port}"


workbench.procs = []


@pytest.fixture(autouse=True)
def _stop_servers():
    yield
    while workbench.procs:
        proc = workbench.procs.pop()
        proc.terminate()
        proc.wait(15)


def add_model(model_id: str, name: str, base_url: str) -> str:
    return "\x00".join(["models", "add", model_id, "--provider", "openai", "--base-url", base_url, "--model",
                        model_id, "--name", name, "--concurrency", "4"])


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_workflow_1_upload_run_watch_live_open_a_record(page, tmp_path, fake):
    url = workbench(tmp_path, add_model("gemma", "Gemma 3 4B", fake.base_url),
                    add_model("olmo", "OLMo 2 7B", fake.base_url))
    upload = tmp_path / "candidates.jsonl"
    write_jsonl(upload, 120, seed=11)
    page.goto(url)
    page.evaluate("window.__sameDocument = true")  # survives only if the page is never reloaded
    page.set_input_files("#upload-input", str(upload))
    page.wait_for_selector("#upload-text:has-text('Imported 120 records')")
    page.wait_for_selector("#dataset-count:has-text('120 records')")
    page.check("input[data-model=gemma]")
    page.check("input[data-model=olmo]")
    page.click("#run-selected")
    # Progress and results appear while the runs are going, without a refresh.
    page.wait_for_selector(".job .status.running")
    page.wait_for_function("document.querySelectorAll('.row .cell .verdict').length > 0")
    shot(page, "workflow1-running")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('.row .cell .pending').length === 0")
    assert page.evaluate("window.__sameDocument") is True
    page.wait_for_selector("#stats:has-text('120 / 120')")  # completed, per model
    page.click(".row >> nth=0")
    page.wait_for_selector("#detail:not([hidden]) pre")
    detail = page.inner_text("#detail")
    assert "reasoning:" in detail and '"work_history"' in detail
    shot(page, "workflow1-record")


def test_workflow_2_three_models_compare_differences(page, tmp_path, fake):
    fake.config.latency_ms = 1
    from workbench.service.workspace import sample_path

    url = workbench(tmp_path, "import\x00" + str(sample_path()),
                    *(add_model(m, m.upper(), fake.base_url) for m in ("a", "b", "c")))
    page.goto(url)
    for model in ("a", "b", "c"):
        page.check(f"input[data-model={model}]")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 3", timeout=60_000)
    page.click("#compare")
    page.wait_for_selector("#compare-panel:not([hidden]) table")
    assert "recommendation" in page.inner_text("#compare-panel")
    page.click("#filter-tabs button[data-filter=differences]")
    page.wait_for_function("document.querySelector('#filter-tabs button.active').dataset.filter === 'differences'")
    # The filtered page and its count have arrived (no fixed wait: a loaded machine takes longer).
    page.wait_for_function("""() => {
        const rows = [...document.querySelectorAll('.row')];
        const count = document.querySelector('#filter-tabs button[data-filter=differences] .count').textContent;
        return /^[0-9]+$/.test(count.trim()) && rows.length && rows.every((r) => r.classList.contains('disagree'));
    }""")
    count = int(page.inner_text("#filter-tabs button[data-filter=differences] .count"))
    rows = page.query_selector_all(".row")
    assert 0 < count < 100 and rows
    assert all("disagree" in r.get_attribute("class") for r in rows)
    assert page.query_selector_all(".row .diff")  # the disagreeing cells are highlighted
    headers = page.inner_text("#grid-head")
    assert all(name in headers for name in ("A", "B", "C"))
    shot(page, "workflow2-differences")
    page.keyboard.press("j")
    page.keyboard.press("1")  # model A is no longer picked to run; its column stays (a column is a run)
    page.wait_for_function("!document.querySelector('input[data-model=a]').checked")
    assert page.locator("#grid-head .model-col").count() == 3
    page.click("#columns-button")
    page.uncheck("#columns-menu fieldset:has(legend:text-is('A')) input")  # ...until its run is unticked
    page.wait_for_function("document.querySelectorAll('#grid-head .model-col').length === 2", timeout=5000)


def test_xss_payloads_render_as_text(page, tmp_path, fake):
    fake.config.latency_ms = 1
    fake.config.reasoning = f"{XSS}<script>window.__xss=2</script>"
    data = tmp_path / "evil.jsonl"
    data.write_text(json.dumps({"id": "x1", "name": XSS, "title": "<b>bold</b>", "company": "&amp;"}) + "\n",
                    encoding="utf-8")
    url = workbench(tmp_path, "import\x00" + str(data) + "\x00--name\x00" + XSS,
                    add_model("evil", XSS, fake.base_url))
    page.goto(url)
    page.check("input[data-model=evil]")
    page.click("#run-selected")
    page.wait_for_selector(".row .cell .verdict")
    page.click(".row >> nth=0")
    page.wait_for_selector("#detail:not([hidden]) pre >> visible=true")  # the record; the trace's are folded
    assert page.inner_text(".row .title") == XSS
    assert page.inner_text(".row .sub") == "<b>bold</b> @ &amp;"
    assert XSS in page.inner_text("#datasets") and XSS in page.inner_text("#model-picks")
    assert XSS in page.inner_text("#detail") and "<script>" in page.inner_text("#detail")
    assert page.evaluate("document.querySelectorAll('img, script:not([type=module]), b').length") == 0
    assert page.evaluate("window.__xss") is None
    shot(page, "xss-as-text")


def test_the_page_reconnects_after_a_server_restart(page, tmp_path, fake):
    fake.config.latency_ms = 1
    from workbench.service.workspace import sample_path

    url = workbench(tmp_path, "import\x00" + str(sample_path()), add_model("gemma", "Gemma", fake.base_url))
    page.goto(url)
    page.wait_for_selector("#conn.live")
    page.check("input[data-model=gemma]")
    server = workbench.procs.pop()
    server.terminate()
    server.wait(15)
    page.wait_for_selector("#conn.down")
    port = url.rsplit(":", 1)[1]
    data = str(tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", port, "--data-dir", data],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workbench.procs.append(proc)
    wait_for_http(f"{url}/api/health", 30, proc)
    page.wait_for_selector("#conn.live", timeout=15_000)
    # A run started elsewhere (the CLI) after the restart still shows up live on the page.
    subprocess.run([sys.executable, "-m", "workbench", "run", "--dataset", "sample-candidates", "--model", "gemma",
                    "--data-dir", data], check=True, capture_output=True)
    page.wait_for_selector(".job .status.completed", timeout=20_000)
    page.wait_for_function("document.querySelectorAll('.row .cell .verdict').length > 5", timeout=20_000)


def test_workflow_3_review_with_the_keyboard_and_export_golden(page, tmp_path, fake):
    fake.config.latency_ms = 1
    from workbench.service.workspace import sample_path

    url = workbench(tmp_path, add_model("best", "Best model", fake.base_url))
    page.goto(url)
    page.fill("#user-name", "reviewer-1")
    page.press("#user-name", "Enter")
    page.set_input_files("#upload-input", str(sample_path()))
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    page.check("input[data-model=best]")
    page.click("#run-selected")
    page.wait_for_selector(".job .status.completed", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.row .cell .verdict').length > 5")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("r")
    page.wait_for_selector("#review:not([hidden])")
    assert "1 / 100" in page.inner_text("#review-progress")
    page.keyboard.press("g")  # record 1: golden
    page.wait_for_selector("#review button[data-review=golden].on")
    page.keyboard.press("n")
    page.wait_for_selector("#review-progress:has-text('2 / 100')")
    first_name = page.inner_text("#review-body h1")
    page.keyboard.press("e")  # record 2: fix, then golden
    page.wait_for_selector("#edit-dialog[open]")
    page.select_option("#edit-form select[name=f-recommendation]", "Strong No")
    page.fill("#edit-form textarea[name=f-reasoning]", "Fixed: not a fit.")
    page.click("#edit-form button[type=submit]")
    page.wait_for_selector("#edit-dialog", state="hidden")
    page.wait_for_selector("#review button[data-review=edit].on")
    page.keyboard.press("g")
    page.wait_for_selector("#review button[data-review=golden].on")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#review-progress:has-text('3 / 100')")
    page.keyboard.press("w")  # record 3: wrong
    page.wait_for_selector("#review button[data-review=wrong].on")
    page.keyboard.press("u")  # ...undone
    page.wait_for_selector("#review button[data-review=wrong]:not(.on)")
    shot(page, "workflow3-review")
    page.keyboard.press("Escape")
    page.wait_for_selector("#review", state="hidden")
    page.wait_for_selector("#filter-tabs button[data-filter=golden] .count:has-text('2')")
    page.click("#export")
    with page.expect_download() as info:
        page.click("#export-menu a[data-kind=golden]")
    path = info.value.path()
    golden = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert [g["id"] for g in golden] == ["cand-000001", "cand-000002"]
    assert golden[1]["name"] == first_name
    assert golden[1]["golden_answer"]["recommendation"] == "Strong No"
    assert golden[1]["golden_answer"]["reasoning"] == "Fixed: not a fit."
    assert golden[0]["golden_provenance"]["annotator"] == "reviewer-1"
    assert golden[1]["golden_provenance"]["model_id"] == "best"


def test_golden_export_feeds_a_few_shot_run_shown_in_metrics(page, tmp_path, fake):
    import urllib.request

    fake.config.latency_ms = 1
    from workbench.service.workspace import sample_path

    url = workbench(tmp_path, "import\x00" + str(sample_path()), add_model("best", "Best", fake.base_url))
    data = ["--data-dir", str(tmp_path / "data")]
    subprocess.run([sys.executable, "-m", "workbench", "run", "--dataset", "sample-candidates", "--model", "best",
                    *data], check=True, capture_output=True)
    for i in range(1, 13):
        body = json.dumps({"dataset_id": "sample-candidates", "record_id": f"cand-{i:06d}", "model_id": "best",
                           "field": "golden", "value": True}).encode()
        request = urllib.request.Request(f"{url}/api/annotations", body, {"Content-Type": "application/json",
                                                                          "X-Workbench-Client": "tests"})
        urllib.request.urlopen(request).read()
    golden = tmp_path / "golden.jsonl"
    golden.write_bytes(urllib.request.urlopen(f"{url}/api/exports/golden?dataset_id=sample-candidates").read())
    page.goto(url)
    page.set_input_files("#upload-input", str(golden))
    page.wait_for_selector("#upload-text:has-text('Imported 12 records')")
    page.click("#datasets li[data-id=sample-candidates]")
    page.wait_for_selector("#dataset-count:has-text('100 records')")
    page.check("input[data-model=best]")
    page.fill("#few-shot", "3")
    page.select_option("#examples-from", "golden")
    page.click("#run-selected")
    page.wait_for_function("document.querySelectorAll('.job .status.completed').length === 2", timeout=30_000)
    page.click("#open-metrics")
    page.wait_for_selector("#metrics-body h3:has-text('Few-shot vs zero-shot')")
    text = page.inner_text("#metrics-body")
    assert "(3 ex.)" in text and "Accuracy against golden" in text
    shot(page, "few-shot-metrics")


def test_with_a_token_the_page_sends_it(page, tmp_path, fake, monkeypatch):
    fake.config.latency_ms = 1
    from workbench.service.workspace import sample_path

    monkeypatch.setenv("WORKBENCH_TOKEN", "s3cret-token")
    url = workbench(tmp_path, "import\x00" + str(sample_path()), add_model("best", "Best", fake.base_url))
    page.goto(url)  # without the token: the API refuses, the page says so
    page.wait_for_selector("#toast:has-text('access token')")
    page.goto(f"{url}/?token=s3cret-token")
    page.wait_for_selector("#conn.live")
    assert "token" not in page.url  # taken out of the address bar
    page.check("input[data-model=best]")
    page.click("#run-selected")
    page.wait_for_selector(".job .status.completed", timeout=20_000)
    page.wait_for_function("document.querySelectorAll('.row .cell .verdict').length > 5")


def test_editing_a_model_in_the_page_keeps_what_the_form_does_not_show(page, tmp_path, fake):
    """The form shows some fields; saving it must not reset the others (prices, rate limits, the
    structured-output form, the seed) to their defaults (before: all were reset)."""
    url = workbench(tmp_path, add_model("gemma", "Gemma", fake.base_url))
    import json
    import urllib.request

    def call(method: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(f"{url}/api/models/gemma", method=method,
                                         data=json.dumps(body).encode() if body else None,
                                         headers={"Content-Type": "application/json", "X-Workbench-Client": "t"})
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)

    model = call("GET")
    kept = {"price_in": 2.5, "price_out": 10.0, "requests_per_minute": 600, "tokens_per_minute": 90000,
            "structured_output": "json_object"}
    call("PUT", {**model, **kept, "params": {**model["params"], "seed": 7, "top_p": 0.9}})
    page.goto(url)
    page.click("#open-models")
    page.click("#models-list li:has-text('gemma') >> text=Edit")
    page.fill("#model-form input[name=name]", "Gemma 3 (edited)")
    page.click("#model-form button[type=submit]")
    page.wait_for_selector("#model-message:has-text('Saved.')")
    after = call("GET")
    assert after["name"] == "Gemma 3 (edited)"
    assert {k: after[k] for k in kept} == kept
    assert after["params"]["seed"] == 7 and after["params"]["top_p"] == 0.9

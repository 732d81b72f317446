"""The trace in real Chromium: prices saved from the Models dialog make a run's cost, and trace.js's
traceView renders one answer's figures, the prompt sent and the raw answer, all as text."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

from pathlib import Path

import pytest

from testkit.synthetic import generate_candidates
from tests.test_browser import CHROMIUM, add_model, browser, fake, page, workbench, _stop_servers  # noqa: F401

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
ODD_ID = 'x/<b>?#%25 日本 <img src=x onerror="window.__xss=1">'


def call(url: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "X-Workbench-Client": "t"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def test_prices_from_the_dialog_and_a_trace_in_the_page(page, tmp_path, fake):  # noqa: F811
    upload = tmp_path / "odd.jsonl"
    with open(upload, "w", encoding="utf-8") as fh:
        for i, record in enumerate(generate_candidates(3, seed=5)):
            record["id"] = ODD_ID if i == 0 else f"r{i}"
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    url = workbench(tmp_path, add_model("gemma", "Gemma 3 4B", fake.base_url),
                    "\x00".join(["import", str(upload), "--name", "odd"]))
    page.goto(url)
    page.click("#open-models")
    page.click("#models-list li:has-text('gemma') >> text=Edit")
    page.fill("#model-form input[name=price_in]", "2.5")
    page.fill("#model-form input[name=price_out]", "10")
    page.click("#model-form button[type=submit]")
    page.wait_for_selector("#model-message:has-text('Saved.')")
    model = call(f"{url}/api/models/gemma")
    assert (model["price_in"], model["price_out"]) == (2.5, 10.0)
    page.wait_for_selector("#models-list li:has-text('$2.5 / $10 per 1M tokens')")
    page.click("#models-close")

    [dataset] = call(f"{url}/api/datasets")
    [run] = call(f"{url}/api/runs", "POST", {"dataset_id": dataset["id"], "model_ids": ["gemma"]})
    deadline = time.monotonic() + 60
    while run["status"] != "completed":
        assert time.monotonic() < deadline and run["status"] in ("queued", "running"), run
        time.sleep(0.2)
        run = call(f"{url}/api/runs/{run['id']}")
    # The run's cost is its tokens at the prices saved from the page.
    assert run["cost"] == pytest.approx((run["tokens_in"] * 2.5 + run["tokens_out"] * 10.0) / 1e6)
    assert run["cost"] > 0

    rendered = page.evaluate("""async ([runId, recordId]) => {
        const { traceView } = await import("/static/trace.js");
        const view = await traceView(runId, recordId);
        document.body.append(view);
        for (const details of view.querySelectorAll("details")) details.open = true;
        return { text: view.innerText, pres: [...view.querySelectorAll("pre")].map((p) => p.textContent),
                 images: view.querySelectorAll("img").length };
    }""", [run["id"], ODD_ID])
    trace = call(f"{url}/api/runs/{run['id']}/results/{urllib.parse.quote(ODD_ID, safe='')}")
    text = rendered["text"]
    for label in ("Latency", "Tokens in / out", "Cost", "Attempts", "Cached", "Finish reason", "Prompt sent",
                  "Raw answer"):
        assert label in text, label
    assert f"{trace['tokens_in']} / {trace['tokens_out']}" in text and "stop" in text
    # Each message's content, then the raw answer, exactly, as text (the id's markup stays text).
    assert rendered["pres"] == [m["content"] for m in trace["messages"]] + [trace["raw_text"]]
    assert rendered["images"] == 0 and page.evaluate("window.__xss") is None
    missing = page.evaluate("""async (runId) => {
        const { traceView } = await import("/static/trace.js");
        return (await traceView(runId, "no such record")).textContent;
    }""", run["id"])
    assert "No answer" in missing

"""A provider added from one file (tests/plugin_provider_echo.py), with no other edit, reaches every
place that lists providers: `workbench models add --help`, GET /api/providers, a test connection, and
the page's Models dialog in Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from testkit.net import free_port, wait_for_http
from workbench.cli import main
from workbench.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "tests.plugin_provider_echo"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.setenv("WORKBENCH_PROVIDERS", PLUGIN)


def test_the_plugin_is_a_choice_of_models_add_and_works_end_to_end(plugin, tmp_path):
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    helped = runner.invoke(main, ["models", "add", "--help"], catch_exceptions=False)
    assert helped.exit_code == 0 and "echo" in helped.output and "echo (test plugin)" in helped.output
    added = runner.invoke(main, ["models", "add", "e1", "--provider", "echo", *data], catch_exceptions=False)
    assert added.exit_code == 0 and "saved model e1 (echo)" in added.output, added.output
    listed = runner.invoke(main, ["models", "list", *data], catch_exceptions=False)
    assert "echo-1" in listed.output  # the provider's default model
    tested = runner.invoke(main, ["models", "test", "e1", *data], catch_exceptions=False)
    assert tested.exit_code == 0 and "e1: ok" in tested.output, tested.output


def test_without_the_plugin_the_cli_refuses_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_PROVIDERS"}
    result = subprocess.run([sys.executable, "-m", "workbench", "models", "add", "e1", "--provider", "echo",
                             "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 2 and "'echo' is not one of" in result.stderr


def test_the_plugin_is_in_the_api(plugin, settings, store):
    with TestClient(create_app(settings, store=store), headers={"X-Workbench-Client": "tests"},
                    base_url="http://localhost") as client:
        echo = {p["name"]: p for p in client.get("/api/providers").json()}["echo"]
        assert echo["label"] == "echo (test plugin)" and echo["form_fields"] == ["model", "max_concurrency"]
        saved = client.post("/api/models", json={"id": "e2", "provider": "echo"})  # no model: the provider's default
        assert saved.status_code == 201 and saved.json()["model"] == "echo-1"
        assert client.post("/api/models", json={"id": "e2", "provider": "echo", "model": "x"}).status_code == 201
        tested = client.post("/api/models/e2/test").json()
        assert tested["ok"] and tested["output"]["recommendation"] == "Strong Yes", tested


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_plugin_is_in_the_models_dialog(tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "WORKBENCH_PROVIDERS": PLUGIN}
    server = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port), "--no-warm-up",
                               "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/health", 30, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}")
            page.click("#open-models")
            page.wait_for_selector("#models-dialog[open] select[name=provider] option[value=echo]", state="attached")
            options = page.eval_on_selector_all("#model-form select[name=provider] option",
                                                "all => all.map((o) => o.value)")
            assert "echo" in options and "openai" in options
            page.select_option("#model-form select[name=provider]", "echo")
            # Only the fields the plugin declares show.
            assert page.is_visible("#model-form label[data-field=model]")
            assert not page.is_visible("#model-form label[data-field=base_url]")
            page.select_option("#model-form select[name=provider]", "openai")
            assert page.is_visible("#model-form label[data-field=base_url]")
            page.select_option("#model-form select[name=provider]", "echo")
            page.fill("#model-form input[name=id]", "e3")
            page.click("#model-test")
            page.wait_for_selector("#model-message:has-text('OK in')")
            page.wait_for_selector("#models-list li:has-text('e3')")
            assert "echo-1" in page.inner_text("#models-list")  # the default model, from the provider
            browser.close()
        assert errors == [], errors
    finally:
        server.terminate()
        server.wait(15)


def test_an_installed_package_adds_a_provider_by_entry_point(monkeypatch):
    from importlib.metadata import EntryPoint

    from workbench.providers import registry

    monkeypatch.delenv("WORKBENCH_PROVIDERS", raising=False)
    monkeypatch.setattr(registry, "_registry", {})  # a fresh look, undone after the test
    monkeypatch.setattr(registry, "_loaded_modules", set())
    entry = EntryPoint(name="echo", value=f"{PLUGIN}:EchoProvider", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry] if group == entry.group else [])
    assert {"echo", "openai", "local", "baseline"} <= set(registry.provider_names())

"""Shared fixtures. Tests never touch the user's data dir: every store lives in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.service.workspace import open_workspace
from testkit.net import free_port, wait_for_http  # noqa: F401 (tests import them from here too)

ROOT = Path(__file__).resolve().parent.parent


POSTGRES = os.environ.get("WORKBENCH_TEST_POSTGRES") == "1"

# The inner loop, `make test-fast` (`pytest -m "not slow"`), leaves out what is marked slow here, the one
# place that says so: Chromium, the real engine, several processes, big datasets. `make test` runs all.
SLOW_FILES = {
    "test_browser.py": "drives Chromium",
    "test_browser_columns.py": "drives Chromium",
    "test_browser_tasks.py": "drives Chromium",
    "test_trace_browser.py": "drives Chromium",
    "test_browser_live.py": "drives Chromium during a fast stream",
    "test_browser_page.py": "drives Chromium",
    "test_browser_panels.py": "drives Chromium",
    "test_browser_a11y.py": "drives Chromium with axe-core",
    "test_browser_judge.py": "drives Chromium through a judge's runs",
    "test_browser_bulk.py": "drives Chromium",
    "test_browser_agreement.py": "drives Chromium",
    "test_browser_metrics_stats.py": "drives Chromium",
    "test_screenshots.py": "drives Chromium",
    "test_scale_page.py": "Chromium over 200K records",
    "test_soak.py": "processes running and annotating for a minute",
    "test_multi_serve.py": "several `workbench serve` processes on one database",
    "test_crash.py": "kills a server mid-run",
    "test_leftovers.py": "kills a server mid-upload",
    "test_storage_faults.py": "CLI processes on a tiny or read-only disk",
    "test_fuzz_api.py": "schemathesis over the whole API",
}
SLOW_FIXTURES = {
    "llama_server": "a real llama.cpp server",
    "pool": "a pool of processes racing on one database",
}
SLOW_MARKERS = {"engine": "the embedded llama.cpp engine"}
SLOW_TESTS = {
    "test_runner.py::test_faults_end_in_exactly_one_terminal_state": "10,000 requests against faults",
    "test_metrics.py::test_streaming_100k_records_in_bounded_memory": "100K records",
    "test_import.py::test_import_memory_stays_flat": "big files",
    "test_races.py::test_parallel_cli_imports_with_one_name": "CLI processes",
    "test_races.py::test_processes_starting_on_a_new_database_migrate_it_once": "processes",
    "test_races.py::test_demo_setups_from_processes_import_the_sample_once": "processes",
    "test_hostile_answers.py::test_workbench_run_with_a_timeout_ends_on_hostile_answers": "a CLI run",
    "test_hostile_answers.py::test_workbench_run_says_so_when_its_dataset_is_deleted_mid_run": "CLI processes",
    "test_hostile_requests.py::test_odd_ids_and_hosts_on_a_real_server": "a `workbench serve` process",
    # Junk in every parameter, each case on a fresh dataset with two runs (the fixture `client`).
    "test_hostile_requests.py::test_junk_in_any_query_or_path_parameter_is_a_4xx": "every parameter × junk",
    "test_hostile_requests.py::test_the_grid_refuses_junk_with_a_message": "40 cases",
    "test_hostile_requests.py::test_hostile_json_bodies_get_a_4xx": "hypothesis over every body",
    "test_hostile_requests.py::test_arbitrary_query_and_path_values_get_no_5xx": "hypothesis over every parameter",
    "test_hostile_requests.py::test_hostile_parameters_of_changes_get_a_4xx": "hypothesis over every parameter",
    "test_hostile_requests.py::test_the_page_opens_a_record_whose_id_holds_a_slash": "Chromium",
    "test_cli_junk.py::test_a_database_that_cannot_be_opened": "CLI processes",
    "test_cli_junk.py::test_ctrl_c_is_a_short_message_and_exit_130": "a CLI process",
    "test_cli_junk.py::test_overflowing_ids_in_a_real_process": "CLI processes",
    "test_cli.py::test_serve_refuses_a_public_host_without_token": "a `workbench serve` process",
    "test_provider_plugin.py::test_the_plugin_is_in_the_models_dialog": "Chromium",
    "test_grid_counts.py::test_counts_match_the_filters_through_results_and_annotations":
        "every filter of every selection, after each of many changes (tests/test_review_rule.py is the quick check)",
}


def pytest_collection_modifyitems(config, items):
    seen = set()
    for item in items:
        test = f"{item.path.name}::{item.originalname}"
        if (item.path.name in SLOW_FILES or test in SLOW_TESTS or SLOW_FIXTURES.keys() & set(item.fixturenames)
                or any(item.get_closest_marker(name) for name in SLOW_MARKERS)):
            item.add_marker(pytest.mark.slow)
        seen.add(test)
    # A renamed test or file would silently join the inner loop: say so.
    files = {item.path.name for item in items}
    stale = [test for test in SLOW_TESTS.keys() - seen if test.split("::")[0] in files]
    stale += [name for name in SLOW_FILES if not (Path(__file__).parent / name).exists()]
    for name in stale:
        config.issue_config_time_warning(pytest.PytestConfigWarning(f"slow, but no such test: {name}"), 2)


@pytest.fixture(scope="session")
def postgres_url():
    """With WORKBENCH_TEST_POSTGRES=1 the whole suite runs on a real PostgreSQL server."""
    if not POSTGRES:
        yield None
        return
    from testkit.postgres import postgres_server, wait_ready

    with postgres_server() as url:
        wait_ready(url)
        yield url


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch, postgres_url):
    # Anything that falls back to the environment lands in a temp dir (or a fresh database),
    # including the workbench processes that tests start.
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path_factory.mktemp("default-data")))
    monkeypatch.delenv("WORKBENCH_TOKEN", raising=False)
    monkeypatch.delenv("WORKBENCH_MODELS_FILE", raising=False)
    if postgres_url:
        from testkit.postgres import create_database

        monkeypatch.setenv("WORKBENCH_DATABASE_URL", create_database(postgres_url))
    else:
        monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.load(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings):
    store = open_workspace(settings)
    yield store
    store.close()


def smollm2_path() -> Path:
    from workbench.providers.local import bundled_model_path

    return bundled_model_path()


@pytest.fixture(scope="session")
def llama_server():
    """llama-cpp-python's OpenAI-compatible server with the real SmolLM2 model, on loopback."""
    port = free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"llama-server-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()), "--n_threads", "1",
         "--n_ctx", "4096", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v1/models", timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

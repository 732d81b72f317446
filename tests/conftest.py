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

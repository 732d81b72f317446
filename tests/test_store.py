"""Store: migrations, WAL, schema agreement, model configurations."""

from __future__ import annotations

import sqlalchemy as sa
import pytest

from tests.conftest import POSTGRES
from workbench.config import Settings
from workbench.domain.models import ModelConfigError
from workbench.service.models import build_model, load_models_yaml
from workbench.store import open_store
from workbench.store.migrations import MIGRATIONS, applied, migrate
from workbench.store.models import ModelNotFound, delete_model, get_model, list_models, save_model
from workbench.store.schema import metadata
from workbench.service.workspace import open_workspace


def test_migrations_are_recorded_and_idempotent(store):
    assert applied(store.engine) == [name for name, _ in MIGRATIONS]
    assert migrate(store.engine) == []


@pytest.mark.skipif(POSTGRES, reason="SQLite only")
def test_sqlite_uses_wal(store):
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (store.settings.data_dir / "workbench.db").exists()


def test_schema_module_matches_the_migrated_database(store):
    inspector = sa.inspect(store.engine)
    for table in metadata.sorted_tables:
        actual = {c["name"] for c in inspector.get_columns(table.name)}
        assert actual == set(table.c.keys()), table.name


def test_settings_from_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "envdir"))
    settings = Settings.load()
    assert settings.data_dir == tmp_path / "envdir"
    assert settings.database_url == f"sqlite:///{tmp_path / 'envdir' / 'workbench.db'}"
    assert Settings.load(data_dir=tmp_path / "explicit").data_dir == tmp_path / "explicit"
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", "postgresql://u@127.0.0.1/wb")
    assert Settings.load().database_url == "postgresql://u@127.0.0.1/wb" and not Settings.load().is_sqlite


def test_model_crud(store):
    config = build_model({"id": "gemma", "name": "Gemma 3 4B", "provider": "openai",
                          "base_url": "http://127.0.0.1:8000/v1/", "model": "google/gemma-3-4b-it",
                          "api_key_env": "GEMMA_KEY", "price_in": 0.1, "price_out": 0.4,
                          "params": {"temperature": 0.2, "max_tokens": 300, "seed": 1}})
    save_model(store, config)
    loaded = get_model(store, "gemma")
    assert loaded == config and loaded.base_url == "http://127.0.0.1:8000/v1"
    save_model(store, config.with_changes(max_concurrency=32))
    assert get_model(store, "gemma").max_concurrency == 32 and len(list_models(store)) == 1
    delete_model(store, "gemma")
    with pytest.raises(ModelNotFound):
        get_model(store, "gemma")


@pytest.mark.parametrize("data, message", [
    ({"id": "x", "provider": "openai", "model": "m"}, "needs a base URL"),
    ({"id": "x", "provider": "openai", "base_url": "ftp://h", "model": "m"}, "http:// or https://"),
    ({"id": "x", "provider": "openai", "base_url": "http://h/v1", "model": "m", "api_key_env": "sk-abc123"},
     "NAME of an environment variable"),
    ({"id": "bad id!", "provider": "baseline"}, "id:"),
    ({"id": "x", "provider": "magic"}, "provider"),
])
def test_bad_model_configs_are_one_line(data, message):
    with pytest.raises(ModelConfigError) as info:
        build_model(data)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_models_yaml(tmp_path, monkeypatch):
    path = tmp_path / "models.yaml"
    path.write_text("""
models:
  - id: gemma-3-4b
    name: Gemma 3 4B
    provider: openai
    base_url: http://127.0.0.1:8001/v1
    model: google/gemma-3-4b-it
    max_concurrency: 16
  - id: baseline
    provider: baseline
""", encoding="utf-8")
    assert [m.id for m in load_models_yaml(path)] == ["gemma-3-4b", "baseline"]
    monkeypatch.setenv("WORKBENCH_MODELS_FILE", str(path))
    store = open_workspace(Settings.load(data_dir=tmp_path / "d"))
    assert get_model(store, "gemma-3-4b").max_concurrency == 16


def test_two_stores_on_one_file_share_data(settings):
    a, b = open_store(settings), open_store(settings)
    save_model(a, build_model({"id": "b1", "provider": "baseline"}))
    assert [m.id for m in list_models(b)] == ["b1"]

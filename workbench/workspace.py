"""Opening a workspace: the store, migrated, with built-in tasks and models in place."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from workbench.config import Settings
from workbench.domain.models import ModelConfig, load_models_yaml
from workbench.store import Store, open_store
from workbench.store.datasets import DatasetInfo, import_dataset, list_datasets
from workbench.store.models import model_exists, save_model
from workbench.store.tasks import sync_tasks

SAMPLE_FILE = "sample_candidates.jsonl"
DEMO_MODELS = (
    ModelConfig(id="smollm2", name="SmolLM2 135M (embedded)", provider="local", model="smollm2", max_concurrency=1),
    ModelConfig(id="baseline", name="Rule-based baseline", provider="baseline", max_concurrency=8),
)


def open_workspace(settings: Settings) -> Store:
    store = open_store(settings)
    sync_tasks(store)
    if settings.models_file:
        for config in load_models_yaml(settings.models_file):
            save_model(store, config)
    return store


def sample_path() -> Path:
    return Path(str(resources.files("workbench") / "data" / SAMPLE_FILE))


def ensure_demo(store: Store) -> DatasetInfo:
    """The bundled sample dataset and the two models that need no server (idempotent)."""
    for config in DEMO_MODELS:
        if not model_exists(store, config.id):
            save_model(store, config)
    for info in list_datasets(store):
        if info.source_name == SAMPLE_FILE:
            return info
    return import_dataset(store, sample_path(), name="Sample candidates", source_name=SAMPLE_FILE)

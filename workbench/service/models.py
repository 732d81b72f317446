"""The model use cases: list, show, save, edit, remove, import a models.yaml, test connection, and
the providers' descriptions. The CLI and the routers call one of these each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.domain import models as shapes
from workbench.domain.models import ModelConfig
from workbench.domain.tasks import DEFAULT_TASK
from workbench.providers import registry
from workbench.providers.probe import ProbeResult, test_connection
from workbench.service.samples import sample_record
from workbench.store import Store
from workbench.store import models as stored
from workbench.store.datasets import iter_records
from workbench.store.tasks import get_task


def build_model(data: dict[str, Any]) -> ModelConfig:
    """User input into a ModelConfig its provider can use, or one ModelConfigError line."""
    return registry.check_model(shapes.build_model(data))


def load_models_yaml(path: Path) -> list[ModelConfig]:
    """A ``models.yaml``'s models, each checked like ``build_model``; nothing saved."""
    return [registry.check_model(config) for config in shapes.load_models_yaml(path)]


def list_models(store: Store) -> list[ModelConfig]:
    return stored.list_models(store)


def get_model(store: Store, model_id: str) -> ModelConfig:
    return stored.get_model(store, model_id)


def save_model(store: Store, data: dict[str, Any]) -> ModelConfig:
    """Add a model, or replace the one with its id. No model name: the provider's default, if it has one."""
    if not data.get("model") and isinstance(data.get("provider"), str) \
            and data["provider"] in registry.provider_names():
        data = {**data, "model": registry.provider_class(data["provider"]).default_model}
    return stored.save_model(store, build_model(data))


def update_model(store: Store, model_id: str, data: dict[str, Any]) -> ModelConfig:
    """Replace an existing model's configuration (ModelNotFound if it is gone)."""
    return stored.update_model(store, build_model({**data, "id": model_id}))


def delete_model(store: Store, model_id: str) -> None:
    stored.delete_model(store, model_id)


def import_models(store: Store, path: Path) -> list[ModelConfig]:
    """Add or replace every model of a models.yaml; none is saved if any is wrong."""
    configs = load_models_yaml(path)
    for config in configs:
        stored.save_model(store, config)
    return configs


def describe_providers() -> list[dict[str, Any]]:
    return registry.describe_providers()


def provider_names() -> list[str]:
    return registry.provider_names()


async def test_model(store: Store, model_id: str, task_name: str = DEFAULT_TASK, *, dataset_id: str | None = None,
                     record: dict | None = None, timeout_s: float = 120.0, save: bool = True) -> ProbeResult:
    """Probe a model with one record (the dataset's first, else the bundled sample); a model whose
    provider learns its structured-output form and is set to `auto` remembers the form that worked
    (only that field: the probe takes seconds, and the model may be edited meanwhile)."""
    config = stored.get_model(store, model_id)
    if record is None and dataset_id:
        record = next((r.data for r in iter_records(store, dataset_id, limit=1)), None)
    result = await test_connection(config, get_task(store, task_name), record or sample_record(), timeout_s)
    if save and result.ok and config.structured_output == "auto" and result.structured_output \
            and registry.provider_class(config.provider).learns_structured_output:
        stored.remember_structured_output(store, model_id, result.structured_output)
    return result

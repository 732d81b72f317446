"""Opening a workspace: the store, migrated, with built-in tasks and models in place."""

from __future__ import annotations

import logging
import threading

from workbench.config import Settings
from workbench.domain.models import ModelConfig
from workbench.scratch import sweep
from workbench.service.models import load_models_yaml
from workbench.service.samples import SAMPLE_FILE, sample_path, sample_record  # noqa: F401 (tests read them here)
from workbench.store import Store, open_store
from workbench.store.datasets import DatasetInfo, import_dataset, list_datasets
from workbench.store.models import get_model, model_exists, save_model
from workbench.store.tasks import get_task, sync_tasks

log = logging.getLogger(__name__)

DEMO_MODELS = (
    ModelConfig(id="smollm2", name="SmolLM2 135M (embedded)", provider="local", model="smollm2", max_concurrency=1),
    ModelConfig(id="baseline", name="Rule-based baseline", provider="baseline", max_concurrency=8),
)


def open_workspace(settings: Settings) -> Store:
    store = open_store(settings)
    sweep(settings.data_dir)  # what a killed process left in uploads/ and exports/ (not a live one's)
    sync_tasks(store)
    if settings.models_file:
        for config in load_models_yaml(settings.models_file):
            save_model(store, config)
    return store


def ensure_demo(store: Store) -> DatasetInfo:
    """The bundled sample dataset and the two models that need no server (idempotent, also when
    several processes set the demo up at once).

    PostgreSQL: a lock keyed "demo" is held across the look and the import (which commits on its
    own connection meanwhile). SQLite can't hold its write lock there (the import takes it on
    another connection), so an import that turns out to race another is undone: every process
    keeps the sample committed first, which each sees after its own commit."""
    from contextlib import nullcontext

    from workbench.store.datasets import delete_dataset
    from workbench.store.db import write_transaction

    def samples() -> list[DatasetInfo]:  # oldest first (ids of one name grow: base, base-2, ...)
        found = [info for info in list_datasets(store) if info.source_name == SAMPLE_FILE]
        return sorted(found, key=lambda info: (info.created_at, len(info.id), info.id))

    for config in DEMO_MODELS:
        if not model_exists(store, config.id):
            save_model(store, config)
    with write_transaction(store, "demo") if store.dialect == "postgresql" else nullcontext():
        if found := samples():
            return found[0]
        ours = import_dataset(store, sample_path(), name="Sample candidates", source_name=SAMPLE_FILE)
    first = samples()[0]
    if first.id != ours.id:
        delete_dataset(store, ours.id)
    return first



def start_demo_warm_up(store: Store) -> threading.Thread:
    """The embedded model loaded, and the demo task's shared prompt evaluated, in the background while
    the page opens: Run's first answer then waits for one record's own tokens, not for the load
    and the system prompt (bench/local_bench.py --page)."""
    from workbench.domain.tasks import DEFAULT_TASK
    from workbench.providers import local
    from workbench.runner.asking import prompt_messages

    def warm() -> None:
        try:
            config = get_model(store, DEMO_MODELS[0].id)
            record = sample_record()
            messages = prompt_messages(get_task(store, DEFAULT_TASK), str(record.get("id", "")), record, [])
            local.warm(config, messages)
        except Exception as exc:  # noqa: BLE001 - no engine, no model file, a task that doesn't render the
            # sample: only a head start is lost (the run says what is wrong itself), never the server
            log.info("the embedded model was not warmed: %s", exc)

    thread = threading.Thread(target=warm, name="demo-warm-up", daemon=True)
    thread.start()
    return thread

"""Model configuration queries (CRUD). Keys are never stored, only env var names."""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from workbench.domain.models import DEFAULT_MAX_RESPONSE_BYTES, ModelConfig, ModelParams
from workbench.store.db import Store, dialect_insert, utcnow
from workbench.store.schema import models
from workbench.domain.errors import NotFound


class ModelNotFound(NotFound):
    def __init__(self, model_id: str):
        super().__init__(f"no model {model_id!r} (see `workbench models list`)")


def _to_row(config: ModelConfig) -> dict:
    return {
        "id": config.id, "name": config.name, "provider": config.provider, "base_url": config.base_url,
        "model_name": config.model, "api_key_env": config.api_key_env,
        "params": orjson.dumps(config.params.to_dict()).decode(), "max_concurrency": config.max_concurrency,
        "requests_per_minute": config.requests_per_minute, "tokens_per_minute": config.tokens_per_minute,
        "price_in": config.price_in, "price_out": config.price_out,
        "structured_output": config.structured_output, "replicas": orjson.dumps(config.replicas).decode(),
        "max_response_bytes": None if config.max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
        else config.max_response_bytes,  # NULL: the default, which may change
    }


def _from_row(row) -> ModelConfig:
    m = row._mapping
    return ModelConfig(
        id=m["id"], name=m["name"], provider=m["provider"], base_url=m["base_url"], model=m["model_name"],
        api_key_env=m["api_key_env"], params=ModelParams.from_dict(orjson.loads(m["params"])),
        max_concurrency=m["max_concurrency"], requests_per_minute=m["requests_per_minute"],
        tokens_per_minute=m["tokens_per_minute"], price_in=m["price_in"], price_out=m["price_out"],
        structured_output=m["structured_output"], replicas=orjson.loads(m["replicas"]),
        max_response_bytes=m["max_response_bytes"] or DEFAULT_MAX_RESPONSE_BYTES,
    )


def save_model(store: Store, config: ModelConfig) -> ModelConfig:
    """Insert or replace a model configuration: one upsert, so two saves of a new id at once
    can't both insert (the last one wins, as for any two saves)."""
    row = _to_row(config)
    now = utcnow()
    with store.engine.begin() as conn:
        statement = dialect_insert(conn, models).values(**row, created_at=now, updated_at=now)
        conn.execute(statement.on_conflict_do_update(index_elements=["id"], set_={**row, "updated_at": now}))
    return config


def update_model(store: Store, config: ModelConfig) -> ModelConfig:
    """Replace an existing model's configuration: one UPDATE, so an edit racing a delete never
    brings the model back (ModelNotFound instead)."""
    row = _to_row(config)
    with store.engine.begin() as conn:
        if not conn.execute(models.update().where(models.c.id == config.id)
                            .values(**row, updated_at=utcnow())).rowcount:
            raise ModelNotFound(config.id)
    return config


def remember_structured_output(store: Store, model_id: str, form: str) -> bool:
    """Record the structured-output form a probe found, only if the model still says ``auto``: one
    conditional update, so an edit saved while the probe ran (seconds) is kept, and a form the
    user chose meanwhile wins. Returns whether it changed."""
    with store.engine.begin() as conn:
        return conn.execute(models.update().where(models.c.id == model_id, models.c.structured_output == "auto")
                            .values(structured_output=form, updated_at=utcnow())).rowcount > 0


def get_model(store: Store, model_id: str) -> ModelConfig:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(models).where(models.c.id == model_id)).first()
    if row is None:
        raise ModelNotFound(model_id)
    return _from_row(row)


def list_models(store: Store) -> list[ModelConfig]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(models).order_by(models.c.created_at, models.c.id)).all()
    return [_from_row(r) for r in rows]


def delete_model(store: Store, model_id: str) -> None:
    with store.engine.begin() as conn:
        if not conn.execute(models.delete().where(models.c.id == model_id)).rowcount:
            raise ModelNotFound(model_id)


def model_exists(store: Store, model_id: str) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(models.c.id).where(models.c.id == model_id)).first() is not None

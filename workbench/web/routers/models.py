"""Models: CRUD and "test connection". Responses carry the key's variable name, never a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from workbench.domain.models import ModelConfig, build_model
from workbench.store.datasets import iter_records
from workbench.store.models import delete_model, get_model, list_models, save_model, update_model
from workbench.service.workspace import test_model

router = APIRouter(tags=["models"])


@router.get("/models")
def models_list(request: Request) -> list[ModelConfig]:
    return list_models(request.app.state.store)


@router.get("/models/{model_id}")
def model_get(request: Request, model_id: str) -> ModelConfig:
    return get_model(request.app.state.store, model_id)


@router.post("/models", status_code=201)
def model_create(request: Request, body: dict[str, Any] = Body(...)) -> ModelConfig:
    return save_model(request.app.state.store, build_model(body))


@router.put("/models/{model_id}")
def model_update(request: Request, model_id: str, body: dict[str, Any] = Body(...)) -> ModelConfig:
    return update_model(request.app.state.store, build_model({**body, "id": model_id}))


@router.delete("/models/{model_id}", status_code=204)
def model_delete(request: Request, model_id: str) -> None:
    delete_model(request.app.state.store, model_id)


@router.post("/models/{model_id}/test")
async def model_test(request: Request, model_id: str, task: str = "candidate-screening",
                     dataset_id: str | None = None) -> dict:
    """Send one sample record; report latency, the answer and the structured-output form that works."""
    store = request.app.state.store
    record = None
    if dataset_id:
        record = next((r.data for r in iter_records(store, dataset_id, limit=1)), None)
    return (await test_model(store, model_id, task, record)).to_dict()


"""Models: CRUD and "test connection". Responses carry the key's variable name, never a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from workbench.domain.models import ModelConfig
from workbench.domain.tasks import DEFAULT_TASK
from workbench.service import models as service

router = APIRouter(tags=["models"])


@router.get("/models")
def models_list(request: Request) -> list[ModelConfig]:
    return service.list_models(request.app.state.store)


@router.get("/models/{model_id}")
def model_get(request: Request, model_id: str) -> ModelConfig:
    return service.get_model(request.app.state.store, model_id)


@router.post("/models", status_code=201)
def model_create(request: Request, body: dict[str, Any] = Body(...)) -> ModelConfig:
    return service.save_model(request.app.state.store, body)


@router.put("/models/{model_id}")
def model_update(request: Request, model_id: str, body: dict[str, Any] = Body(...)) -> ModelConfig:
    return service.update_model(request.app.state.store, model_id, body)


@router.delete("/models/{model_id}", status_code=204)
def model_delete(request: Request, model_id: str) -> None:
    service.delete_model(request.app.state.store, model_id)


@router.post("/models/{model_id}/test")
async def model_test(request: Request, model_id: str, task: str = DEFAULT_TASK,
                     dataset_id: str | None = None) -> dict:
    """Send one sample record; report latency, the answer and the structured-output form that works."""
    return (await service.test_model(request.app.state.store, model_id, task, dataset_id=dataset_id)).to_dict()


@router.get("/providers", tags=["providers"])
def providers_list() -> list[dict[str, Any]]:
    """Every provider and what it declares: its label, what a model of it needs, the form's fields."""
    return service.describe_providers()

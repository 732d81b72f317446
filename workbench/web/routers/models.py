"""Models: CRUD and "test connection". Responses carry the key's variable name, never a key."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Body, Request

from workbench.domain.tasks import DEFAULT_TASK
from workbench.service import models as service
from workbench.web.access import ADMIN, VIEWER, audited, needs

router = APIRouter(tags=["models"])


@router.get("/models", **needs(VIEWER))
def models_list(request: Request) -> list[dict[str, Any]]:
    return [m.to_dict() for m in service.list_models(request.app.state.store)]


@router.get("/models/{model_id}", **needs(VIEWER))
def model_get(request: Request, model_id: str) -> dict[str, Any]:
    return service.get_model(request.app.state.store, model_id).to_dict()


@router.post("/models", status_code=201, **needs(ADMIN))
def model_create(request: Request, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    saved = service.save_model(request.app.state.store, body)
    audited(request, "model.add", saved.id)
    return saved.to_dict()


@router.put("/models/{model_id}", **needs(ADMIN))
def model_update(request: Request, model_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    saved = service.update_model(request.app.state.store, model_id, body)
    audited(request, "model.edit", model_id)
    return saved.to_dict()


@router.delete("/models/{model_id}", status_code=204, **needs(ADMIN))
def model_delete(request: Request, model_id: str) -> None:
    service.delete_model(request.app.state.store, model_id)
    audited(request, "model.delete", model_id)


@router.post("/models/{model_id}/test", **needs(ADMIN))
async def model_test(request: Request, model_id: str, task: str = DEFAULT_TASK,
                     dataset_id: str | None = None) -> dict:
    """Send one sample record; report latency, the answer and the structured-output form that works."""
    outcome = (await service.test_model(request.app.state.store, model_id, task, dataset_id=dataset_id)).to_dict()
    await to_thread.run_sync(audited, request, "model.test", model_id, {"ok": outcome.get("ok")})
    return outcome


@router.get("/providers", tags=["providers"], **needs(VIEWER))
def providers_list() -> list[dict[str, Any]]:
    """Every provider and what it declares: its label, what a model of it needs, the form's fields."""
    return service.describe_providers()

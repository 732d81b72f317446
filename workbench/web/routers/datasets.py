"""Datasets: upload (multipart), list, records, rename, delete."""

from __future__ import annotations

from dataclasses import asdict

from typing import Any

from fastapi import APIRouter, Body, File, Request, UploadFile

from workbench.service import datasets
from workbench.web.params import DatabaseId, FormText, Int64
from workbench.web.access import ADMIN, VIEWER, audited, needs

router = APIRouter(tags=["datasets"])


@router.get("/datasets", **needs(VIEWER))
def datasets_list(request: Request) -> list[dict]:
    return [asdict(d) for d in datasets.list_datasets(request.app.state.store)]


@router.get("/datasets/{dataset_id}", **needs(VIEWER))
def dataset_get(request: Request, dataset_id: str) -> dict:
    return asdict(datasets.get_dataset(request.app.state.store, dataset_id))


@router.get("/datasets/{dataset_id}/records", **needs(VIEWER))
def dataset_records(request: Request, dataset_id: str, after: DatabaseId = 0, limit: Int64 = 50) -> dict:
    return datasets.records_page(request.app.state.store, dataset_id, after=after, limit=limit)


# :path: a record id may hold "/" (the page sends it encoded, the server decodes it before routing).
@router.get("/datasets/{dataset_id}/records/{record_id:path}", **needs(VIEWER))
def dataset_record(request: Request, dataset_id: str, record_id: str) -> dict:
    return asdict(datasets.get_record(request.app.state.store, dataset_id, record_id))


@router.post("/datasets", status_code=201, **needs(ADMIN))
def dataset_upload(
    request: Request,
    file: UploadFile = File(...),
    name: FormText = None,
    id_field: FormText = None,
    format: FormText = None,
) -> dict:
    """Import an uploaded JSONL, CSV or Parquet file. All or nothing: problems come back by line."""
    info = datasets.import_upload(request.app.state.store, file.file, file.filename, name=name, id_field=id_field,
                                  fmt=format)
    audited(request, "dataset.import", info.id, {"name": info.name, "records": info.record_count})
    return asdict(info)


@router.patch("/datasets/{dataset_id}", **needs(ADMIN))
def dataset_rename(request: Request, dataset_id: str, name: Any = Body(..., embed=True)) -> dict:
    """Rename: ``{"name": "..."}`` (trimmed; blank or over 200 characters is a 422)."""
    info = datasets.rename_dataset(request.app.state.store, dataset_id, name)
    audited(request, "dataset.rename", dataset_id, {"name": info.name})
    return asdict(info)


@router.delete("/datasets/{dataset_id}", status_code=204, **needs(ADMIN))
def dataset_delete(request: Request, dataset_id: str) -> None:
    datasets.delete_dataset(request.app.state.store, dataset_id)
    audited(request, "dataset.delete", dataset_id)

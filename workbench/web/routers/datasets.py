"""Datasets: upload (multipart), list, records, delete."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path, PurePath

from fastapi import APIRouter, File, HTTPException, Request, UploadFile

from workbench.domain.importers import FORMATS
from workbench.scratch import scratch_path
from workbench.web.params import DatabaseId, FormText, Int64
from workbench.store.datasets import (
    delete_dataset, get_dataset, get_record, import_dataset, iter_records, list_datasets,
)

router = APIRouter(tags=["datasets"])
ALLOWED_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq"}
MAX_UPLOAD_BYTES = 2 * 1024**3


@router.get("/datasets")
def datasets_list(request: Request) -> list[dict]:
    return [asdict(d) for d in list_datasets(request.app.state.store)]


@router.get("/datasets/{dataset_id}")
def dataset_get(request: Request, dataset_id: str) -> dict:
    return asdict(get_dataset(request.app.state.store, dataset_id))


@router.get("/datasets/{dataset_id}/records")
def dataset_records(request: Request, dataset_id: str, after: DatabaseId = 0, limit: Int64 = 50) -> dict:
    store = request.app.state.store
    get_dataset(store, dataset_id)
    rows = [asdict(r) for r in iter_records(store, dataset_id, after_seq=after, limit=max(1, min(limit, 500)))]
    return {"records": rows, "next_after": rows[-1]["seq"] if rows else None}


# :path: a record id may hold "/" (the page sends it encoded, the server decodes it before routing).
@router.get("/datasets/{dataset_id}/records/{record_id:path}")
def dataset_record(request: Request, dataset_id: str, record_id: str) -> dict:
    record = get_record(request.app.state.store, dataset_id, record_id)
    if record is None:
        raise HTTPException(404, f"no record {record_id!r} in dataset {dataset_id!r}")
    return asdict(record)


@router.post("/datasets", status_code=201)
def dataset_upload(
    request: Request,
    file: UploadFile = File(...),
    name: FormText = None,
    id_field: FormText = None,
    format: FormText = None,
) -> dict:
    """Import an uploaded JSONL, CSV or Parquet file. All or nothing: problems come back by line."""
    if format is not None and format not in FORMATS:
        raise HTTPException(422, f"format must be one of {', '.join(FORMATS)}")
    # Only the suffix of the client's name is used: the path is ours, so no traversal.
    client_name = PurePath((file.filename or "upload").replace("\\", "/")).name or "upload"
    suffix = PurePath(client_name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES and format is None:
        raise HTTPException(422, f"unsupported file type {suffix or '(none)'}; upload JSONL, CSV or Parquet")
    store = request.app.state.store
    # Named after this process, so a restart can tell a dead process's leftover (workbench.scratch).
    target = scratch_path(store.settings.ensure_data_dir() / "uploads", suffix if suffix in ALLOWED_SUFFIXES else "")
    try:
        _copy_limited(file, target)
        info = import_dataset(store, target, name=name or PurePath(client_name).stem, id_field=id_field,
                              fmt=format, source_name=client_name)
    finally:
        target.unlink(missing_ok=True)
    return asdict(info)


def _copy_limited(file: UploadFile, target: Path) -> None:
    written = 0
    with open(target, "wb") as out:
        while chunk := file.file.read(1024 * 1024):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                raise HTTPException(413, f"file larger than the {MAX_UPLOAD_BYTES // 1024**3} GiB upload limit")
            out.write(chunk)


@router.delete("/datasets/{dataset_id}", status_code=204)
def dataset_delete(request: Request, dataset_id: str) -> None:
    delete_dataset(request.app.state.store, dataset_id)

"""Downloads (written to a temp file as a stream, then sent) and the comparison summary."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from workbench.domain.exports import FORMATS
from workbench.store.exports import compare, export_results

router = APIRouter(tags=["exports"])
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _models(value: str | None) -> list[str] | None:
    return [m for m in (value or "").split(",") if m] or None


@router.get("/exports/results")
def export_all_results(request: Request, dataset_id: str, models: str | None = None, format: str = "jsonl"):
    """All results, one row per record × model (latest run of each model)."""
    if format not in FORMATS:
        raise HTTPException(422, f"format must be one of {', '.join(FORMATS)}")
    store = request.app.state.store
    tmp_dir = store.settings.ensure_data_dir() / "exports"
    tmp_dir.mkdir(exist_ok=True)
    path = Path(tempfile.mkstemp(prefix="results-", suffix=f".{format}", dir=tmp_dir)[1])
    try:
        export_results(store, dataset_id, _models(models), format, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(path, media_type=MEDIA[format], filename=f"{dataset_id}-results.{format}",
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.get("/compare")
def compare_models(request: Request, dataset_id: str, models: str | None = None) -> dict:
    """Agreement per verdict field, share of records where models disagree, and per pair."""
    return compare(request.app.state.store, dataset_id, _models(models)).to_dict()

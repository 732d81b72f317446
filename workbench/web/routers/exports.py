"""Downloads (written to a temp file as a stream, then sent) and the comparison summary."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from workbench.scratch import scratch_path
from workbench.service.exports import KIND_FORMATS, KINDS, compare, compute_metrics, export, icl_comparison
from workbench.web.params import Int64, model_list as _models

router = APIRouter(tags=["exports"])
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet",
         "txt": "text/plain"}


@router.get("/exports/{kind}")
def download(request: Request, kind: str, dataset_id: str, models: str | None = None, format: str | None = None,
             layout: str = "long", examples: Int64 = 5):
    """results (jsonl/csv/parquet; layout long or wide), golden (jsonl), comparison and
    comparison-summary (csv), training (OpenAI chat jsonl), training-parquet (Hugging Face),
    few-shot (txt). Written as a stream to a temp file, then sent."""
    if kind not in KINDS:
        raise HTTPException(404, f"no export kind {kind!r}; use one of {', '.join(KINDS)}")
    fmt = format or KIND_FORMATS[kind][0]
    if fmt not in KIND_FORMATS[kind]:
        raise HTTPException(422, f"{kind} exports as {' or '.join(KIND_FORMATS[kind])}")
    if layout not in ("long", "wide"):
        raise HTTPException(422, "layout must be long or wide")
    store = request.app.state.store
    path = scratch_path(store.settings.ensure_data_dir() / "exports", f".{fmt}")  # see workbench.scratch
    try:
        export(store, kind, dataset_id, _models(models), fmt, path, layout=layout, examples=max(1, min(examples, 50)))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    name = f"{dataset_id}-{kind}{'-wide' if layout == 'wide' and kind == 'results' else ''}.{fmt}"
    return FileResponse(path, media_type=MEDIA[fmt], filename=name,
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.get("/metrics")
def metrics(request: Request, dataset_id: str, models: str | None = None) -> dict:
    """Per model: answered, errors, latency, tokens, cost; agreement and Cohen's kappa per pair;
    accuracy against golden/corrected labels; win rate from preferences; confusion matrices;
    and zero-shot vs few-shot accuracy where a model has both."""
    store = request.app.state.store
    return compute_metrics(store, dataset_id, _models(models)) | {"icl": icl_comparison(store, dataset_id)}


@router.get("/compare")
def compare_models(request: Request, dataset_id: str, models: str | None = None) -> dict:
    """Agreement per verdict field, share of records where models disagree, and per pair."""
    return compare(request.app.state.store, dataset_id, _models(models)).to_dict()

"""Downloads (written to a scratch file as a stream, then sent) and the comparison figures."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from workbench.service import exports, metrics as figures
from workbench.domain.model_ids import parse_model_ids as _models
from workbench.web.params import Int64
from workbench.web.access import VIEWER, needs

router = APIRouter(tags=["exports"])
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet",
         "txt": "text/plain"}


@router.get("/exports/{kind}", **needs(VIEWER))
def download(request: Request, kind: str, dataset_id: str, models: str | None = None, format: str | None = None,
             layout: str = "long", examples: Int64 = 5, judge: bool = False):
    """results (jsonl/csv/parquet; layout long or wide), golden (jsonl), comparison and
    comparison-summary (csv), training (OpenAI chat jsonl), training-parquet (Hugging Face),
    few-shot (txt), preferences (TRL conversational preference pairs, jsonl: from people's
    preferences and corrections, and with ``judge=1`` the judge's consistent verdicts, each
    marked by ``source``). Written as a stream to a temp file, then sent."""
    written = exports.export_file(request.app.state.store, kind, dataset_id, _models(models), format, layout=layout,
                                  examples=examples, judge=judge)
    return FileResponse(written.path, media_type=MEDIA[written.fmt], filename=written.name,
                        background=BackgroundTask(written.path.unlink, missing_ok=True))


@router.get("/metrics", **needs(VIEWER))
def metrics(request: Request, dataset_id: str, models: str | None = None) -> dict:
    """Per model: answered, errors, latency, tokens, cost; agreement and Cohen's kappa per pair;
    accuracy against golden/corrected labels; win rate from preferences; confusion matrices;
    and zero-shot vs few-shot accuracy where a model has both."""
    return figures.metrics(request.app.state.store, dataset_id, _models(models))


@router.get("/compare", **needs(VIEWER))
def compare_models(request: Request, dataset_id: str, models: str | None = None) -> dict:
    """Agreement per verdict field, share of records where models disagree, and per pair."""
    return figures.compare(request.app.state.store, dataset_id, _models(models)).to_dict()

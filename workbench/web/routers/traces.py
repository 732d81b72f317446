"""What one answer was: the messages sent, the raw answer, and what it cost."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from typing import Annotated

from fastapi import APIRouter, Query, Request

from workbench.domain.errors import InvalidInput

from workbench.service.traces import result_trace
from workbench.web.params import DatabaseId
from workbench.web.access import VIEWER, needs

router = APIRouter(tags=["runs"])
MAX_ID_CHARS = 10_000


@router.get("/runs/{run_id}/results/{record_id:path}", **needs(VIEWER))
def run_result_trace(request: Request, run_id: DatabaseId, record_id: str,
                     query_id: Annotated[str | None, Query(max_length=MAX_ID_CHARS, alias="record_id")] = None) -> dict:
    """The messages sent about the record, the raw answer, the parsed output or typed error,
    finish_reason, latency, tokens, cost and attempts (404: unknown run or record, or no result yet).
    The record id is percent-encoded as one segment ("a%2Fb" for "a/b"); an id a URL can't hold as a
    segment ("." and "..", which clients resolve away) goes in ``?record_id=`` after ".../results/"."""
    path_id = _decoded_once(request, record_id)
    if not path_id and query_id is None:
        raise InvalidInput("which record? /api/runs/{run_id}/results/{record_id}")
    return result_trace(request.app.state.store, run_id, path_id or query_id or "")


def _decoded_once(request: Request, record_id: str) -> str:
    """The record id from the raw path, decoded once: an id may itself hold "%25" or "%2F", which a
    second decoding (as Starlette's test client does) would turn into other ids."""
    raw = request.scope.get("raw_path")
    parts = raw.split(b"/", 5) if raw else []
    if len(parts) != 6 or parts[4] != b"results":
        return record_id
    return unquote_to_bytes(parts[5]).decode("utf-8", "replace")  # the boundary refused invalid UTF-8

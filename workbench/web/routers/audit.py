"""The audit log (admin): who changed models, tasks, datasets, runs and users, and when."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from workbench.service import audit
from workbench.web.access import ADMIN, needs
from workbench.web.params import DatabaseId, Int64

router = APIRouter(tags=["audit"])


@router.get("/audit", **needs(ADMIN))
def audit_entries(request: Request, limit: Int64 = 100, before: DatabaseId | None = None) -> list[dict]:
    """Newest first; ``before`` an entry id (the next page)."""
    return audit.entries(request.app.state.store, limit=limit, before=before)


@router.get("/audit/export", **needs(ADMIN))
def audit_export(request: Request, format: str = "jsonl") -> StreamingResponse:
    """The whole log, oldest first, as JSON lines or CSV."""
    lines = audit.export_lines(request.app.state.store, format)
    first = next(lines, "")  # a wrong format is refused (422) before the answer starts
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"

    def body():
        yield first
        yield from lines

    return StreamingResponse(body(), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="audit.{format}"'})

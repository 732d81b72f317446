"""User mistakes become one readable message with a 4xx status, never a traceback."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field
from fastapi.responses import JSONResponse

from workbench.domain.annotations import AnnotationError
from workbench.domain.datasets import ImportRejected
from workbench.domain.importers import UnreadableFile
from workbench.domain.models import ModelConfigError
from workbench.domain.tasks import TaskError
from workbench.runner.manager import FewShotError
from workbench.store.annotations import AnnotationConflict
from workbench.store.datasets import DatasetNotFound
from workbench.store.db import storage_problem
from workbench.store.exports import NothingToExport
from workbench.store.models import ModelNotFound
from workbench.store.runs import RunNotFound, RunStateError
from workbench.store.tasks import TaskNotFound

class Problem(BaseModel):
    """Every error answer: one readable message (or FastAPI's list of field problems), plus the
    bad lines of a rejected import."""

    detail: str | list[dict[str, Any]]
    problems: list[str] | None = None
    more: int | None = None


ERROR_RESPONSES = {status: {"model": Problem, "description": text} for status, text in (
    (401, "Missing or wrong access token"), (403, "Refused (header or origin)"), (404, "Not found"),
    (409, "Conflicts with the current state"), (413, "Too large"), (422, "Invalid input"),
    (503, "The database can't be written (disk full, read-only)"))}

# Ids and positions are 64-bit integers in the database; bigger ones are refused as input.
DatabaseId = Annotated[int, Field(ge=0, le=2**63 - 1)]

NOT_FOUND = (DatasetNotFound, ModelNotFound, TaskNotFound, RunNotFound, NothingToExport)
BAD_INPUT = (UnreadableFile, ModelConfigError, TaskError, AnnotationError, FewShotError)
CONFLICT = (RunStateError, AnnotationConflict)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ImportRejected)
    async def rejected(_: Request, exc: ImportRejected) -> JSONResponse:
        return JSONResponse(
            {"detail": f"nothing imported: {exc}", "problems": exc.problems, "more": exc.more}, status_code=422
        )

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    async def storage(_: Request, exc: sqlalchemy.exc.OperationalError) -> JSONResponse:
        return JSONResponse({"detail": storage_problem(exc)}, status_code=503)

    for kinds, status in ((NOT_FOUND, 404), (BAD_INPUT, 422), (CONFLICT, 409)):
        for kind in kinds:
            app.add_exception_handler(kind, _handler(status))


def _handler(status: int):
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handle

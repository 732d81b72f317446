"""User mistakes become one readable message with a 4xx status, never a traceback."""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from fastapi.responses import JSONResponse

from workbench.domain.errors import WorkbenchError
from workbench.store.faults import input_problem, storage_problem, too_much
from workbench.web.params import DatabaseId  # noqa: F401 (re-export: routers take ids typed once)


class Problem(BaseModel):
    """Every error answer: one readable message (or FastAPI's list of field problems), plus the
    bad lines of a rejected import."""

    detail: str | list[dict[str, Any]]
    problems: list[str] | None = None
    more: int | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in (
    (401, "Not signed in, or a missing or wrong token"), (403, "Refused (role, header or origin)"), (404, "Not found"),
    (409, "Conflicts with the current state"), (413, "Too large"), (421, "Not answered for this Host (DNS rebinding)"),
    (422, "Invalid input"), (429, "Too many failed sign-ins: see Retry-After"),
    (503, "The database can't be written (disk full, read-only)"))}


SECRET_BODIES = ("/api/session",)  # a refused body there may hold a token: not echoed


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors())
        if request.url.path in SECRET_BODIES:
            errors = [{k: v for k, v in e.items() if k not in ("input", "ctx")} for e in errors]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(WorkbenchError)
    async def refused(_: Request, exc: WorkbenchError) -> JSONResponse:
        retry_after = getattr(exc, "retry_after", None)
        return JSONResponse(exc.to_dict(), status_code=exc.status,
                            headers=None if retry_after is None else {"Retry-After": str(retry_after)})

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    async def storage(_: Request, exc: sqlalchemy.exc.OperationalError) -> JSONResponse:
        problem = input_problem(exc)
        if problem is not None:
            return JSONResponse({"detail": problem}, status_code=422)
        return JSONResponse({"detail": storage_problem(exc)}, status_code=503)

    @app.exception_handler(sqlalchemy.exc.DataError)
    async def bad_value(_: Request, exc: sqlalchemy.exc.DataError) -> JSONResponse:
        return JSONResponse({"detail": input_problem(exc) or too_much(exc)}, status_code=422)

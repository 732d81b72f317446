"""User mistakes become one readable message with a 4xx status, never a traceback."""

from __future__ import annotations

from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from pydantic import BaseModel
from fastapi.responses import JSONResponse

from workbench.domain.errors import WorkbenchError
from workbench.store.db import storage_problem
from workbench.web.params import DatabaseId  # noqa: F401 (re-export: routers take ids typed once)


class Problem(BaseModel):
    """Every error answer: one readable message (or FastAPI's list of field problems), plus the
    bad lines of a rejected import."""

    detail: str | list[dict[str, Any]]
    problems: list[str] | None = None
    more: int | None = None


ERROR_RESPONSES = {status: {"model": Problem, "description": text} for status, text in (
    (401, "Missing or wrong access token"), (403, "Refused (header or origin)"), (404, "Not found"),
    (409, "Conflicts with the current state"), (413, "Too large"), (421, "Not answered for this Host (DNS rebinding)"),
    (422, "Invalid input"), (503, "The database can't be written (disk full, read-only)"))}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WorkbenchError)
    async def refused(_: Request, exc: WorkbenchError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(sqlalchemy.exc.OperationalError)
    async def storage(_: Request, exc: sqlalchemy.exc.OperationalError) -> JSONResponse:
        problem = input_problem(exc)
        if problem is not None:
            return JSONResponse({"detail": problem}, status_code=422)
        return JSONResponse({"detail": storage_problem(exc)}, status_code=503)

    @app.exception_handler(sqlalchemy.exc.DataError)
    async def bad_value(_: Request, exc: sqlalchemy.exc.DataError) -> JSONResponse:
        return JSONResponse({"detail": input_problem(exc) or _too_much(exc)}, status_code=422)



# What the database refuses because of what was asked, not because it is full, read-only or gone:
# SQLite's limits (by message: they share SQLITE_ERROR with real faults), PostgreSQL's data
# exceptions (SQLSTATE class 22) and program limits (54), NUL in text (psycopg refuses it itself).
_INPUT_MESSAGES = ("too many sql variables", "string or blob too big", "expression tree is too large",
                   "like or glob pattern too complex", "tables in a join", "too many terms", "too many columns",
                   "parser stack overflow", "index row size", "cannot contain nul", "nul (0x00)",
                   "stack depth limit exceeded", "out of range", "value too long", "invalid byte sequence")


def input_problem(exc: sqlalchemy.exc.DBAPIError) -> str | None:
    """A readable line when the database refused the request's size or content, else None."""
    original = getattr(exc, "orig", exc)
    state = str(getattr(original, "sqlstate", None) or "")
    text = str(original).lower()
    if isinstance(exc, sqlalchemy.exc.DataError) or state[:2] in ("22", "54") \
            or getattr(original, "sqlite_errorname", "") in ("SQLITE_TOOBIG", "SQLITE_RANGE") \
            or any(m in text for m in _INPUT_MESSAGES):
        return _too_much(exc)
    return None


def _too_much(exc: sqlalchemy.exc.DBAPIError) -> str:
    first = (str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__])[0]
    return f"the database can't take this request as asked ({first[:200]}): make it smaller or simpler"

"""What a database error means, decided in one place: the request asked too much (a 4xx for the
caller), or the database can't be written or reached (disk full, read-only, gone: a 503, a run
paused with its results kept), with one line a person can act on."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.exc


def is_storage_failure(exc: BaseException) -> bool:
    """The database can't be written or reached (not: it refused one value)."""
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)):
        return True
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    # PostgreSQL's read-only transaction (a standby, default_transaction_read_only) is an InternalError.
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == "25006"


def storage_problem(exc: Exception) -> str:
    """One line for a database that can't be written or reached (full disk, read-only, gone)."""
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    if "full" in lowered:
        return f"the disk holding the database is full ({text}); nothing was half-written — free space and retry"
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return f"the database can't be written ({text}); is the data dir read-only?"
    return f"database error: {text}"


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
        return too_much(exc)
    return None


def too_much(exc: sqlalchemy.exc.DBAPIError) -> str:
    first = (str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__])[0]
    return f"the database can't take this request as asked ({first[:200]}): make it smaller or simpler"

"""One base for every error a user can act on: a one-line message and the HTTP status that says it.

The CLI prints ``error: <message>`` for any of them and the web layer answers ``status`` with
``{"detail": message}``; each maps the base in one place, so a new error needs no list edited.
"""

from __future__ import annotations

from typing import ClassVar


class WorkbenchError(Exception):
    status: ClassVar[int] = 422

    def to_dict(self) -> dict:
        """The web answer's body (a subclass adds what it carries, e.g. an import's bad lines)."""
        return {"detail": str(self)}


class NotFound(WorkbenchError, LookupError):
    status = 404


class InvalidInput(WorkbenchError, ValueError):
    status = 422


class Conflict(WorkbenchError, ValueError):
    """Refused because of the current state (a run already ended, an annotation changed meanwhile)."""

    status = 409


class NotSignedIn(WorkbenchError):
    """Accounts are on and the request carries no valid session or token."""

    status = 401


class Forbidden(WorkbenchError, PermissionError):
    """Signed in, but the role doesn't allow it."""

    status = 403


class TooManyAttempts(WorkbenchError):
    """Failed sign-ins from here are over the limit; ``retry_after`` seconds until the next try."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after

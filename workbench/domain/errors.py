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

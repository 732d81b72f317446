"""Roles on routes: each API route declares the least role that may call it, and the declaration
is both the check and the documentation (``x-workbench-role`` in the OpenAPI schema, which the
role matrix test reads). Who is asking was settled by the guard (web/security.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.requests import HTTPConnection

from workbench.domain.accounts import ADMIN, ANNOTATOR, OPEN, VIEWER, Principal, may
from workbench.domain.errors import Forbidden, NotSignedIn
from workbench.web.security import PRINCIPAL

ROLE_KEY = "x-workbench-role"

__all__ = ["ADMIN", "ANNOTATOR", "OPEN", "VIEWER", "needs", "principal", "author_of", "actor", "audited",
           "may_undo_others", "check_every_route"]


def principal(connection: HTTPConnection) -> Principal | None:
    return connection.scope.get(PRINCIPAL)


def needs(role: str) -> dict[str, Any]:
    """The route decorator's keywords for ``role``: ``@router.post("/x", **needs(ADMIN))``."""

    def check(connection: HTTPConnection) -> None:
        who = principal(connection)
        if role == OPEN:
            return
        if who is None:
            raise NotSignedIn("sign in first: accounts are on")
        if not may(who.role, role):
            raise Forbidden(f"this needs the {role} role; you are {'an' if who.role[0] in 'aeiou' else 'a'} {who.role}")

    return {"dependencies": [Depends(check)], "openapi_extra": {ROLE_KEY: role}}


def author_of(connection: HTTPConnection, claimed: str | None) -> str | None:
    """The author of an annotation: the signed-in user with accounts on (whatever the body claims),
    else the name the page sent (None: the local user)."""
    who = principal(connection)
    return who.name if who is not None and who.accounts else claimed


def actor(connection: HTTPConnection) -> str:
    """Who the audit log names for this request."""
    who = principal(connection)
    if who is None:
        from workbench.service.curation import local_author

        return local_author()
    return who.name


def check_every_route(app: FastAPI) -> None:
    """Every API route declares its role (a route without one would be open to any signed-in user)."""
    for route in _routes(app.routes):
        if isinstance(route, APIRoute) and ROLE_KEY not in (route.openapi_extra or {}):
            raise RuntimeError(f"{route.path} ({', '.join(sorted(route.methods or ()))}) declares no role")
        if isinstance(route, APIWebSocketRoute) and not route.dependencies:
            raise RuntimeError(f"the socket {route.path} declares no role")


def _routes(routes):
    """Routes, with those of included routers (FastAPI ≥ 0.16x keeps an included router whole)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def audited(connection: HTTPConnection, action: str, target: object = "", detail: dict[str, Any] | None = None) -> None:
    """One entry in the audit log for an admin action that succeeded, by whoever made it."""
    from workbench.service import audit

    audit.record(connection.app.state.store, actor(connection), action, str(target), detail)


def may_undo_others(connection: HTTPConnection) -> bool:
    """With accounts on only an admin may undo someone else's change; without, anyone (as before)."""
    who = principal(connection)
    return who is None or not who.accounts or who.role == ADMIN

"""Signing in and out (accounts on), and who the page is talking as."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from workbench.service import accounts
from workbench.web.access import OPEN, needs, principal
from workbench.web.security import SESSION_COOKIE, client_address, session_cookie

router = APIRouter(tags=["session"])


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not hold a NUL character")
    return value


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_no_nul)]
    token: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]


@router.get("/session", **needs(OPEN))
def session_get(request: Request) -> dict:
    """Whether accounts are on, and who this request is (with accounts off: the local user, an admin)."""
    who = principal(request)
    user = None if who is None else {"name": who.name, "role": who.role}
    return {"accounts": who is None or who.accounts, "user": user}


@router.post("/session", **needs(OPEN))
def session_start(request: Request, body: SignIn, response: Response) -> dict:
    """Sign in with a name and token: a new session in an HttpOnly, SameSite=Strict cookie (the
    session the request carried, if any, ends). Failed tries are limited per name and address."""
    settings = request.app.state.settings
    user, session_id, expires_at = accounts.sign_in(
        request.app.state.store, name=body.name, token=body.token, address=client_address(request.scope),
        carried=session_cookie(dict(request.scope["headers"])), hours=settings.session_hours)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(settings.session_hours * 3600), path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    response.headers["Cache-Control"] = "no-store"
    return {"user": {"name": user["name"], "role": user["role"]}, "expires_at": expires_at}


@router.delete("/session", status_code=204, **needs(OPEN))
def session_end(request: Request, response: Response) -> None:
    """Sign out: the session ends on the server and the cookie is cleared."""
    accounts.sign_out(request.app.state.store, principal(request))
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")

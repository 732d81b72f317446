"""Users and roles (admin): add (the token is shown once), list, disable, enable, reset, role."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from workbench.domain.errors import Conflict
from workbench.service import accounts
from workbench.web.access import ADMIN, actor, needs

router = APIRouter(tags=["users"])


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: str = Field(max_length=20, description="viewer | annotator | admin")


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(max_length=20, description="viewer | annotator | admin")


@router.get("/users", **needs(ADMIN))
def users_list(request: Request) -> list[dict]:
    return accounts.list_users(request.app.state.store)


@router.post("/users", status_code=201, **needs(ADMIN))
def user_add(request: Request, body: NewUser, response: Response) -> dict:
    """The user and their one-time token: it is shown only in this answer (only its hash is kept).
    The first user (it turns accounts on) must be an admin, or nobody could manage the team here."""
    store = request.app.state.store
    if body.role != ADMIN and not accounts.accounts_on(store):
        raise Conflict("the first user turns accounts on and must be an admin")
    user, token = accounts.add_user(request.app.state.store, body.name, body.role, actor=actor(request))
    response.headers["Cache-Control"] = "no-store"  # the one-time token: kept by no cache
    return {"user": user, "token": token}


@router.post("/users/{name}/disable", **needs(ADMIN))
def user_disable(request: Request, name: str) -> dict:
    """Their sessions end at once; refused for the last enabled admin."""
    return {"user": accounts.set_disabled(request.app.state.store, name, True, actor=actor(request))}


@router.post("/users/{name}/enable", **needs(ADMIN))
def user_enable(request: Request, name: str) -> dict:
    return {"user": accounts.set_disabled(request.app.state.store, name, False, actor=actor(request))}


@router.post("/users/{name}/reset", **needs(ADMIN))
def user_reset(request: Request, name: str, response: Response) -> dict:
    """A new one-time token; the old one and the user's sessions stop working."""
    user, token = accounts.reset_token(request.app.state.store, name, actor=actor(request))
    response.headers["Cache-Control"] = "no-store"
    return {"user": user, "token": token}


@router.post("/users/{name}/role", **needs(ADMIN))
def user_role(request: Request, name: str, body: RoleChange) -> dict:
    return {"user": accounts.set_role(request.app.state.store, name, body.role, actor=actor(request))}

"""Users, sessions and failed sign-ins (the rate limit's memory, shared by every server process)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from workbench.domain.errors import Conflict, NotFound
from workbench.store.db import Store, utcnow, write_transaction
from workbench.store.schema import sessions, sign_in_failures, users

USERS_LOCK = "users"  # every change to users takes it: "the last admin" is read and kept in one transaction
PUBLIC = ("name", "role", "disabled", "created_at", "last_sign_in_at")


class UserNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(f"no user {name[:64]!r} (see `workbench users list`)")


def public(row: Any) -> dict[str, Any]:
    m = row._mapping if hasattr(row, "_mapping") else row
    return {"name": m["name"], "role": m["role"], "disabled": bool(m["disabled"]),
            "created_at": m["created_at"], "last_sign_in_at": m["last_sign_in_at"]}


def any_user(store: Store) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).limit(1)).first() is not None


def list_users(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [public(r) for r in conn.execute(sa.select(users).order_by(users.c.name))]


def find_user(conn: sa.Connection, *, name: str | None = None, user_id: int | None = None):
    column, value = (users.c.name, name) if name is not None else (users.c.id, user_id)
    return conn.execute(sa.select(users).where(column == value)).first()


def user_row(store: Store, *, name: str | None = None, user_id: int | None = None):
    with store.engine.connect() as conn:
        return find_user(conn, name=name, user_id=user_id)


def add_user(store: Store, name: str, role: str, make_secret) -> tuple[dict[str, Any], str]:
    """Insert a user; ``make_secret(user_id) -> (token, hash)`` makes the token the id is part of."""
    now = utcnow()
    with write_transaction(store, USERS_LOCK) as conn:
        if find_user(conn, name=name) is not None:
            raise Conflict(f"a user named {name!r} exists already")
        user_id = conn.execute(users.insert().values(
            name=name, role=role, secret_hash="!", disabled=0, created_at=now, updated_at=now,
        ).returning(users.c.id)).scalar_one()
        token, hashed = make_secret(user_id)
        conn.execute(users.update().where(users.c.id == user_id).values(secret_hash=hashed))
        return public(find_user(conn, user_id=user_id)), token


def change_user(store: Store, name: str, *, role: str | None = None, disabled: bool | None = None,
                make_secret=None) -> tuple[dict[str, Any], str | None]:
    """Change a user's role, disabled flag or token; a disable or a new token ends their sessions.
    Refuses to leave the database without an enabled admin (the page could then change nothing)."""
    with write_transaction(store, USERS_LOCK) as conn:
        row = find_user(conn, name=name)
        if row is None:
            raise UserNotFound(name)
        changes: dict[str, Any] = {"updated_at": utcnow()}
        if role is not None:
            changes["role"] = role
        if disabled is not None:
            changes["disabled"] = int(disabled)
        token = None
        if make_secret is not None:
            token, changes["secret_hash"] = make_secret(row.id)
        still_admin = changes.get("role", row.role) == "admin" and not changes.get("disabled", row.disabled)
        if row.role == "admin" and not row.disabled and not still_admin:
            others = conn.execute(sa.select(sa.func.count()).select_from(users).where(
                users.c.role == "admin", users.c.disabled == 0, users.c.id != row.id)).scalar_one()
            if not others:
                raise Conflict(f"{name!r} is the last enabled admin; make another admin first")
        conn.execute(users.update().where(users.c.id == row.id).values(**changes))
        if changes.get("disabled") or token is not None:
            conn.execute(sessions.delete().where(sessions.c.user_id == row.id))
        return public(find_user(conn, user_id=row.id)), token


def start_session(store: Store, user_id: int, id_hash: str, expires_at: str, ended: str | None,
                  verified_hash: str) -> bool:
    """A new session (and the end of the one the sign-in request carried: a session id never
    survives a sign-in, so one planted in a browser beforehand is worthless). False, and no session,
    when the user was disabled or their token reset since it was checked: under the users' lock, so
    a reset or disable either ends this session or comes after it and refuses it."""
    now = utcnow()
    with write_transaction(store, USERS_LOCK) as conn:
        row = find_user(conn, user_id=user_id)
        if row is None or row.disabled or row.secret_hash != verified_hash:
            return False
        if ended is not None:
            conn.execute(sessions.delete().where(sessions.c.id_hash == ended))
        conn.execute(sessions.delete().where(sessions.c.expires_at <= now))
        conn.execute(sessions.insert().values(id_hash=id_hash, user_id=user_id, created_at=now, expires_at=expires_at))
        conn.execute(users.update().where(users.c.id == user_id).values(last_sign_in_at=now))
        return True


def end_session(store: Store, id_hash: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sessions.delete().where(sessions.c.id_hash == id_hash))


def session_user(store: Store, id_hash: str):
    """The enabled user of an unexpired session, or None."""
    with store.engine.connect() as conn:
        return conn.execute(
            sa.select(users).join(sessions, sessions.c.user_id == users.c.id).where(
                sessions.c.id_hash == id_hash, sessions.c.expires_at > utcnow(), users.c.disabled == 0)
        ).first()


def expire_sessions_of(store: Store, name: str) -> None:
    """Tests and operators: end every session of a user now."""
    with store.engine.begin() as conn:
        conn.execute(sessions.update().where(sessions.c.user_id.in_(
            sa.select(users.c.id).where(users.c.name == name))).values(expires_at=utcnow()))


def claim_attempt(store: Store, *, name_hash: str, address: str, since: str, pair_limit: int,
                  address_limit: int) -> tuple[int | None, str | None]:
    """Count a sign-in attempt as a failure before it is checked: (its row id, None); or, when this
    name and address or this address is over its limit since ``since``, (None, the time of the
    oldest failure that counts). Read and insert under one lock per address, so a burst of
    parallel guesses gets no more checks than a sequence."""
    with write_transaction(store, f"sign-in:{address}") as conn:
        rows = conn.execute(sa.select(sign_in_failures.c.at, sign_in_failures.c.name_hash).where(
            sign_in_failures.c.address == address, sign_in_failures.c.at > since)
            .order_by(sign_in_failures.c.at)).all()
        pair = [r.at for r in rows if r.name_hash == name_hash]
        if len(pair) >= pair_limit:
            return None, pair[len(pair) - pair_limit]
        if len(rows) >= address_limit:
            return None, rows[len(rows) - address_limit].at
        conn.execute(sign_in_failures.delete().where(sign_in_failures.c.at <= since))
        return conn.execute(sign_in_failures.insert().values(name_hash=name_hash, address=address, at=utcnow())
                            .returning(sign_in_failures.c.id)).scalar_one(), None


def drop_attempt(store: Store, attempt_id: int) -> None:
    """The attempt succeeded: it was no failure."""
    with store.engine.begin() as conn:
        conn.execute(sign_in_failures.delete().where(sign_in_failures.c.id == attempt_id))


def forget_failures(store: Store, *, name_hash: str, address: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(sign_in_failures.delete().where(
            sign_in_failures.c.name_hash == name_hash, sign_in_failures.c.address == address))

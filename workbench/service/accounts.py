"""Accounts: users and roles, signing in and out, and who a request is.

Accounts are off while the database holds no user (one local user, as before); the first user
turns them on for that database. See domain/accounts.py for the credentials' design."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from workbench.domain import accounts as rules
from workbench.domain.accounts import ADMIN, Principal
from workbench.domain.errors import Conflict, NotSignedIn, TooManyAttempts
from workbench.service import audit
from workbench.store import Store
from workbench.store import accounts as stored

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5  # failures per name and address in WINDOW
ADDRESS_LIMIT = 30  # failures per address, whatever the names
TOKEN_TRIED = "(token)"  # what a failed bearer token is counted under (never a name's SHA-256)
ACCOUNTS_ON = "accounts.on"  # the store's cache key
_verified: dict[str, str] = {}  # SHA-256 of a token -> the stored hash it matched (scrypt once per process)


def accounts_on(store: Store) -> bool:
    """Whether the database holds a user. Once on, accounts stay on (users are disabled, never
    removed), so only "off" is asked again: a user added by another process counts at once."""
    if store.caches.get(ACCOUNTS_ON):
        return True
    on = stored.any_user(store)
    if on:
        store.caches[ACCOUNTS_ON] = True
    return on


def local_principal() -> Principal:
    from workbench.service.curation import local_author

    return Principal(name=local_author(), role=ADMIN, accounts=False)


def _secret(user_id: int) -> tuple[str, str]:
    token = rules.new_token(user_id)
    return token, rules.hash_secret(token)


def add_user(store: Store, name: str, role: str, *, actor: str) -> tuple[dict[str, Any], str]:
    """A new user and their one-time token (only its hash is kept)."""
    user, token = stored.add_user(store, rules.checked_name(name), rules.checked_role(role), _secret)
    audit.record(store, actor, "user.add", name, {"role": role})
    return user, token


def list_users(store: Store) -> list[dict[str, Any]]:
    return stored.list_users(store)


def set_disabled(store: Store, name: str, disabled: bool, *, actor: str) -> dict[str, Any]:
    user, _ = stored.change_user(store, name, disabled=disabled)
    audit.record(store, actor, "user.disable" if disabled else "user.enable", name)
    return user


def set_role(store: Store, name: str, role: str, *, actor: str) -> dict[str, Any]:
    user, _ = stored.change_user(store, name, role=rules.checked_role(role))
    audit.record(store, actor, "user.role", name, {"role": role})
    return user


def reset_token(store: Store, name: str, *, actor: str) -> tuple[dict[str, Any], str]:
    """A new token for the user; the old one and every session of theirs stop working."""
    user, token = stored.change_user(store, name, make_secret=_secret)
    audit.record(store, actor, "user.reset", name)
    assert token is not None
    return user, token


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _claim_attempt(store: Store, name_hash: str, address: str) -> int:
    """Count this attempt as a failed one until it succeeds; refused when over the limit."""
    now = _now()
    attempt, oldest = stored.claim_attempt(store, name_hash=name_hash, address=address, since=_iso(now - WINDOW),
                                           pair_limit=PAIR_LIMIT, address_limit=ADDRESS_LIMIT)
    if attempt is None:
        # Free again when the oldest failure that counts leaves the window.
        wait = max(1, int((datetime.fromisoformat(oldest or _iso(now)) + WINDOW - now).total_seconds()) + 1)
        raise TooManyAttempts(f"too many failed sign-ins from this address; try again in {wait} s", wait)
    return attempt


def sign_in(store: Store, *, name: str, token: str, address: str, carried: str | None,
            hours: float) -> tuple[dict[str, Any], str, str]:
    """(the user, a new session id, when it expires). Failures are counted per name and address;
    the request's previous session (``carried``) ends: sessions rotate on every sign-in."""
    if not accounts_on(store):
        raise Conflict("accounts are off (no user is defined), so nobody needs to sign in")
    # Counted under a hash of the name: someone who pastes their token into the name field
    # mustn't leave it in the database. The audit log names only users who exist.
    tried = rules.sha256_text(name)
    _claim_attempt(store, tried, address)
    row = stored.user_row(store, name=name) if len(name) <= 64 else None
    correct = rules.verify_secret(token, row.secret_hash if row is not None else rules.dummy_hash())
    if row is None or not correct or rules.token_user_id(token) != row.id:
        who = "(unknown name)" if row is None else row.name
        audit.record(store, who, "session.sign_in_failed", who, {"address": address})
        raise NotSignedIn("wrong name or token")
    if row.disabled:
        raise NotSignedIn(f"the account {name!r} is disabled; ask an admin")
    stored.forget_failures(store, name_hash=tried, address=address)  # this attempt's row with them
    session_id = rules.new_session_id()
    expires_at = _iso(_now() + timedelta(hours=hours))
    if not stored.start_session(store, row.id, rules.sha256_text(session_id), expires_at,
                                None if carried is None else rules.sha256_text(carried), row.secret_hash):
        raise NotSignedIn("wrong name or token")  # reset or disabled while this sign-in was checked
    audit.record(store, name, "session.sign_in", name, {"address": address})
    return stored.public(row), session_id, expires_at


def sign_out(store: Store, principal: Principal | None) -> None:
    if principal is not None and principal.session_hash is not None:
        stored.end_session(store, principal.session_hash)
        audit.record(store, principal.name, "session.sign_out", principal.name)


def identify(store: Store, *, session_id: str | None, token: str | None, address: str) -> Principal | None:
    """Who a request is, with accounts on: the user of its session cookie, else of its bearer
    token; None when neither is valid (an unknown cookie is simply ignored)."""
    if session_id:
        id_hash = rules.sha256_text(session_id)
        row = stored.session_user(store, id_hash)
        if row is not None:
            return Principal(name=row.name, role=row.role, accounts=True, user_id=row.id, session_hash=id_hash)
    if token:
        return _token_user(store, token, address)
    return None


def _token_user(store: Store, token: str, address: str) -> Principal | None:
    user_id = rules.token_user_id(token)
    if user_id is None:  # not a user's token at all (perhaps the shared WORKBENCH_TOKEN): nothing to hash
        return None
    row = stored.user_row(store, user_id=user_id)
    key = rules.sha256_text(token)
    if row is not None and _verified.get(key) == row.secret_hash:
        return None if row.disabled else _token_principal(row)
    attempt = _claim_attempt(store, TOKEN_TRIED, address)  # each wrong token costs a slow hash: bounded too
    # An id nobody has costs the same slow hash, or the answer's time tells which user ids exist.
    correct = rules.verify_secret(token, row.secret_hash if row is not None else rules.dummy_hash())
    if row is None or not correct:
        return None
    stored.drop_attempt(store, attempt)
    if len(_verified) > 10_000:
        _verified.clear()
    _verified[key] = row.secret_hash
    return None if row.disabled else _token_principal(row)


def _token_principal(row) -> Principal:
    return Principal(name=row.name, role=row.role, accounts=True, user_id=row.id, secret_hash=row.secret_hash)


def still_signed_in(store: Store, principal: Principal | None) -> bool:
    """Whether who opened a long-lived connection (the live socket) may still use it: their session
    hasn't ended or expired, their token wasn't reset, they weren't disabled or re-roled."""
    if principal is None or not principal.accounts:
        return not accounts_on(store)  # opened while accounts were off: only while they stay off
    if principal.session_hash is not None:
        row = stored.session_user(store, principal.session_hash)
    else:
        row = stored.user_row(store, user_id=principal.user_id)
        if row is not None and (row.disabled or row.secret_hash != principal.secret_hash):
            row = None
    return row is not None and row.role == principal.role


def expire_sessions_of(store: Store, name: str) -> None:
    stored.expire_sessions_of(store, name)

"""Accounts: roles, names, one-time tokens and their slow hashes (pure logic, no storage).

A user's secret is a token we generate (``wb_<user id>.<43 random characters>``), not a password
they choose: it can't be weak or reused elsewhere, the page and scripts use the same credential,
and a reset is a new token. The user id in it finds the row without trying every hash; only the
scrypt hash of the whole token is stored. Session ids are 256 random bits, stored as SHA-256:
a fast hash is enough for a secret nobody can guess, and a slow one would cost every request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from workbench.domain.errors import InvalidInput
from workbench.domain.names import ROLE_NAMES

ROLES = ROLE_NAMES  # each may do what the ones before it may
VIEWER, ANNOTATOR, ADMIN = ROLES
OPEN = "open"  # a route anyone may call (health, signing in)
_RANK = {role: rank for rank, role in enumerate(ROLES)}

_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_TOKEN = re.compile(r"wb_([0-9]{1,19})\.([A-Za-z0-9_-]{20,100})")
# scrypt's cost: 2**14 × 8 × 128 bytes = 16 MiB and ~50 ms per check here (OWASP's minimum).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@dataclass(frozen=True)
class Principal:
    """Who a request is: a signed-in user (``accounts``), or the single local user when accounts are off."""

    name: str
    role: str
    accounts: bool
    user_id: int | None = None
    session_hash: str | None = None  # signed in by a session cookie: its hash
    secret_hash: str | None = field(default=None, repr=False)  # by a token: the hash it matched then


def may(role: str, needed: str) -> bool:
    return needed == OPEN or (role in _RANK and _RANK[role] >= _RANK[needed])


def checked_role(role: object) -> str:
    if role not in _RANK:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {str(role)[:40]!r}")
    return str(role)


def checked_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput("a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'")
    return name


def new_token(user_id: int) -> str:
    return f"wb_{user_id}.{secrets.token_urlsafe(32)}"


def token_user_id(token: str) -> int | None:
    """The user id a well-formed token names (None for anything else: it is then wrong without a look-up)."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) and len(token) <= 130 else None
    return int(match.group(1)) if match and int(match.group(1)) < 2**63 else None


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)
    params = f"n={_SCRYPT['n']},r={_SCRYPT['r']},p={_SCRYPT['p']}"
    return f"scrypt${params}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Constant-time comparison of scrypt(secret) with a stored hash (False for a malformed one)."""
    try:
        scheme, params, salt, digest = stored.split("$")
        cost = {k: int(v) for k, v in (p.split("=") for p in params.split(","))}
        expected = base64.urlsafe_b64decode(digest + "==")
        actual = hashlib.scrypt(secret.encode(errors="replace"), salt=base64.urlsafe_b64decode(salt + "=="),
                                n=cost["n"], r=cost["r"], p=cost["p"], dklen=len(expected))
    except (ValueError, KeyError):
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


@functools.cache
def dummy_hash() -> str:
    """Checked against when the name is unknown, so a wrong name costs what a wrong token costs."""
    return hash_secret("wb_0.not-a-token-anyone-holds")


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def sha256_text(text: str) -> str:
    """A fast hash for what is already 256 random bits (a session id, a token) or must merely not be
    kept as typed (a name tried at sign-in)."""
    return hashlib.sha256(text.encode(errors="replace")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")

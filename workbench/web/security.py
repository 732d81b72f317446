"""Access control: loopback is open; anything else needs WORKBENCH_TOKEN, or accounts (a user in the
database: then every API call needs a session or a user's token, and routes check roles, see
web/access.py); and only the host names the server is meant to be reached by are answered (DNS
rebinding)."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from anyio import to_thread
from starlette.responses import JSONResponse

from workbench.config import Settings
from workbench.domain.accounts import Principal
from workbench.domain.errors import TooManyAttempts
from workbench.service import accounts
from workbench.service.datasets import MAX_UPLOAD_BYTES


class UnprotectedHost(SystemExit):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(host: str) -> str:
    """The name in a Host header or an --allowed-host: "[::1]:4080" -> "::1", "LocalHost.:80" -> "localhost"."""
    host = host.strip().lower()
    if host.startswith("[") and "]" in host:
        host, _, port = host[1:].partition("]")
        port = port.removeprefix(":")
    elif host.count(":") == 1:  # name:port (a bare IPv6 address has more colons)
        host, _, port = host.partition(":")
    else:
        port = ""
    if port and not (port.isascii() and port.isdigit()):
        return "(malformed)"  # "localhost:80@evil.example" is no name of ours
    return host.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostAllowList:
    """Loopback names and addresses, plus ``allowed`` (the address served on, --allowed-host,
    WORKBENCH_ALLOWED_HOSTS). A page another site's DNS points at us names that site in its Host
    header: refused, so it can't reach the API with the user's browser. Served on a wildcard
    address (0.0.0.0, ::), any IP address is taken as well: an address can't be rebound."""

    def __init__(self, allowed: Iterable[str] = ()):
        self.names = {host_name(h) for h in allowed if host_name(h)}
        self.any_address = bool(self.names & {"0.0.0.0", "::"})

    def allows(self, header: str | None) -> bool:
        if header is None:  # HTTP/1.0 without a Host: no browser sends that
            return True
        name = host_name(header)
        return is_loopback(name) or name in self.names or (self.any_address and _is_address(name))

    def refusal(self, header: str) -> str:
        name = host_name(header)
        extra = "".join(f", {n}" for n in sorted(self.names))
        return (f"this server doesn't answer to the host {name[:100]!r} (it answers to localhost, loopback "
                f"addresses{extra}; a guard against DNS rebinding); to reach it by that name, start it with "
                f"--allowed-host {name[:100]} or set WORKBENCH_ALLOWED_HOSTS")


def given_token(scope, headers: dict[bytes, bytes]) -> str:
    """The access token a request or socket carries: ``Authorization: Bearer …`` or ``?token=…``
    (a browser can't set headers on a WebSocket, so the page uses the query there)."""
    scheme, _, value = headers.get(b"authorization", b"").decode("latin-1").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]


def refuse_unprotected_host(host: str, settings: Settings, store=None) -> None:
    if not is_loopback(host) and not settings.token and not (store is not None and accounts.accounts_on(store)):
        raise UnprotectedHost(
            f"error: refusing to serve on {host} without an access token or accounts; set WORKBENCH_TOKEN "
            "(every API call and the page will need it), add users (`workbench users add NAME --role admin`), "
            "or serve on 127.0.0.1"
        )


SESSION_COOKIE = "workbench_session"
PRINCIPAL = "workbench.principal"  # the scope key routes read who is asking from (web/access.py)
OPEN_PATHS = ("/api/session",)  # answered with accounts on and nobody signed in: signing in


def session_cookie(headers: dict[bytes, bytes]) -> str | None:
    from http.cookies import CookieError, SimpleCookie

    raw = headers.get(b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value[:200] if morsel is not None and morsel.value else None


def client_address(scope) -> str:
    client = scope.get("client")
    return str(client[0])[:100] if client else "unknown"


UPLOAD_PATHS = ("/api/datasets",)
MAX_BODY_BYTES = 1024**2
CLIENT_HEADER = b"x-workbench-client"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class GuardMiddleware:
    """Every request, the page included: a Host on the allow-list. Every API call and the socket:
    the access token when one is set; a custom header on changes (browsers won't send one
    cross-site without a CORS preflight, which we never grant, so other sites can't make the
    page's browser act: CSRF); bounded request bodies; and sockets only from this origin."""

    def __init__(self, app, token: str | None, allowed_hosts: Iterable[str] = (), store=None):
        self.app = app
        self.token = token
        self.hosts = HostAllowList(allowed_hosts)
        self.store = store

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host")
        if not self.hosts.allows(None if host is None else host.decode("latin-1")):
            problem: tuple[int, str] | None = (421, self.hosts.refusal((host or b"").decode("latin-1")))
        elif not scope["path"].startswith("/api/") or scope["path"] == "/api/health":
            # The page itself loads without the token (it then sends it); health says only that it is up.
            return await self.app(scope, receive, send)
        else:
            problem = await to_thread.run_sync(self._identify, scope, headers) or self._check(scope, headers)
        if problem is not None:
            status, message = problem[:2]
            if scope["type"] == "websocket":
                reason = message.encode("ascii", "replace")[:120].decode()  # a close reason holds 123 bytes
                return await send({"type": "websocket.close", "code": 4000 + status, "reason": reason})
            extra = {"Retry-After": str(problem[2])} if len(problem) > 2 else None
            return await JSONResponse({"detail": message}, status_code=status, headers=extra)(scope, receive, send)
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            limit = _body_limit(scope["path"])
            try:
                return await self.app(scope, _limited(receive, limit), send)
            except BodyTooLarge:
                return await JSONResponse({"detail": f"request body larger than {limit} bytes"},
                                          status_code=413)(scope, receive, send)
        return await self.app(scope, receive, send)

    def _identify(self, scope, headers) -> tuple | None:
        """Who is asking, kept in the scope for the routes' role checks; or why they may not ask.
        Runs in a thread: it reads the database."""
        given, cookie = given_token(scope, headers), session_cookie(headers)
        try:
            principal: Principal | None = accounts.identify(
                self.store, session_id=cookie, token=given or None, address=client_address(scope)
            ) if self.store is not None and (cookie or given) else None
        except TooManyAttempts as refused:
            return 429, str(refused), refused.retry_after
        if principal is None and (self.store is None or not accounts.accounts_on(self.store)):
            if self.token and not hmac.compare_digest(given.encode(), self.token.encode()):
                return 401, "missing or wrong access token"
            principal = accounts.local_principal()
        elif principal is None and scope["path"] not in OPEN_PATHS:
            return 401, "sign in first: accounts are on (a session, or a user's token as `Authorization: Bearer`)"
        scope[PRINCIPAL] = principal
        return None

    def _check(self, scope, headers) -> tuple[int, str] | None:
        if scope["type"] == "websocket":
            origin = headers.get(b"origin")
            if origin is not None and urlsplit(origin.decode("latin-1")).netloc != headers.get(b"host", b"").decode():
                return 403, "this socket only serves the workbench's own page"
            return None
        if scope["method"] in UNSAFE_METHODS:
            if CLIENT_HEADER not in headers:
                return 403, "changes need an X-Workbench-Client header (the page sends it)"
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > _body_limit(scope["path"]):
                return 413, f"request body larger than {_body_limit(scope['path'])} bytes"
        return None


def _body_limit(path: str) -> int:
    return MAX_UPLOAD_BYTES if path in UPLOAD_PATHS else MAX_BODY_BYTES


def _limited(receive, limit: int):
    """Stops a body without a Content-Length (chunked) at the limit too."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
        return message

    return wrapped


class BodyTooLarge(Exception):
    pass

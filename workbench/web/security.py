"""Access control: loopback is open; anything else needs WORKBENCH_TOKEN."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import parse_qs, urlsplit

from starlette.responses import JSONResponse

from workbench.config import Settings


class UnprotectedHost(SystemExit):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_unprotected_host(host: str, settings: Settings) -> None:
    if not is_loopback(host) and not settings.token:
        raise UnprotectedHost(
            f"error: refusing to serve on {host} without an access token; set WORKBENCH_TOKEN "
            "(every API call and the page will need it), or serve on 127.0.0.1"
        )


UPLOAD_PATHS = ("/api/datasets",)
MAX_UPLOAD_BYTES = 2 * 1024**3
MAX_BODY_BYTES = 1024**2
CLIENT_HEADER = b"x-workbench-client"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class GuardMiddleware:
    """Every API call and the socket: the access token when one is set; a custom header on
    changes (browsers won't send one cross-site without a CORS preflight, which we never
    grant, so other sites can't make the page's browser act: CSRF); bounded request bodies;
    and sockets only from this origin."""

    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith("/api/") \
                or scope["path"] == "/api/health":  # for load balancers; says only that it is up
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        problem = self._check(scope, headers)
        if problem is not None:
            status, message = problem
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 4000 + status})
            return await JSONResponse({"detail": message}, status_code=status)(scope, receive, send)
        if scope["type"] == "http" and scope["method"] in UNSAFE_METHODS:
            limit = _body_limit(scope["path"])
            try:
                return await self.app(scope, _limited(receive, limit), send)
            except BodyTooLarge:
                return await JSONResponse({"detail": f"request body larger than {limit} bytes"},
                                          status_code=413)(scope, receive, send)
        return await self.app(scope, receive, send)

    def _check(self, scope, headers) -> tuple[int, str] | None:
        if self.token:
            given = headers.get(b"authorization", b"").decode("latin-1").removeprefix("Bearer ").strip()
            if not given:
                given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return 401, "missing or wrong access token"
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

"""Access control: loopback is open; anything else needs WORKBENCH_TOKEN."""

from __future__ import annotations

import hmac
import ipaddress

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
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


class TokenMiddleware(BaseHTTPMiddleware):
    """With a token set, every API call must carry it (header, or ?token= for the socket)."""

    def __init__(self, app, token: str):
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next):
        if request.url.path.startswith("/api/"):
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            given = given or request.query_params.get("token", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return JSONResponse({"detail": "missing or wrong access token"}, status_code=401)
        return await call_next(request)

"""The boundary every request crosses, whatever route it is for (so a new route is covered too):

- the path and every query parameter: valid UTF-8 (no lone surrogates), no NUL, bounded length;
- a JSON body under /api: valid JSON that keeps workbench.domain.json_rules (depth, 64-bit
  integers, finite numbers, valid Unicode), checked once here instead of in every handler;
- and, last, anything unexpected: logged, answered with a generic 500 (no traceback leaves).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.responses import JSONResponse

from workbench.domain.json_rules import json_problem

log = logging.getLogger(__name__)
MAX_PARAM_CHARS = 16_000  # longer than any id or list the page sends; the server's URL limit is about this
BODY_METHODS = {"POST", "PUT", "PATCH"}


def parameter_problem(scope) -> str | None:
    """Why the request's path or query string can't be taken, or None."""
    problem = _path_problem(scope)
    if problem is not None:
        return problem
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return "the query string is not valid UTF-8 (a lone surrogate or a stray byte)"
    for key, value in pairs:
        for text in (key, value):
            if "\x00" in text:
                return f"query parameter {_name(key)} holds a NUL character"
            if len(text) > MAX_PARAM_CHARS:
                return f"query parameter {_name(key)} is longer than {MAX_PARAM_CHARS} characters"
    return None


def _path_problem(scope) -> str | None:
    # The server decodes the path leniently (a bad byte becomes U+FFFD): judge the bytes sent.
    try:
        raw = scope.get("raw_path")
        path = unquote_to_bytes(raw).decode("utf-8") if raw else scope["path"].encode("utf-8").decode("utf-8")
    except UnicodeError:
        return "the path is not valid UTF-8 (a lone surrogate or a stray byte)"
    if "\x00" in path:
        return "the path holds a NUL character"
    if len(path) > MAX_PARAM_CHARS:
        return f"the path is longer than {MAX_PARAM_CHARS} characters"
    return None


def _name(key: str) -> str:
    return repr(key if len(key) <= 40 else key[:40] + "…")


def body_problem(body: bytes) -> str | None:
    """Why a JSON body can't be taken, or None. An empty body is left to the route (it says what it needs)."""
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except RecursionError:
        return "request body: nested too deeply"
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return f"request body: not valid JSON ({exc})"
    problem = json_problem(value)
    return None if problem is None else f"request body: {problem}"


def is_json(headers: dict[bytes, bytes]) -> bool:
    # At least what FastAPI reads as JSON (no Content-Type, application/json, application/*+json); */json too.
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    subtype = kind.partition(b"/")[2]
    return not kind or subtype == b"json" or subtype.endswith(b"+json")


class BoundaryMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        problem = parameter_problem(scope)
        if problem is not None:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 4422})
            return await JSONResponse({"detail": problem}, status_code=422)(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and scope["method"] in BODY_METHODS and scope["path"].startswith("/api/") \
                and is_json(headers):
            body, receive = await _buffered(receive)
            problem = body_problem(body)
            if problem is not None:
                return await JSONResponse({"detail": problem}, status_code=422)(scope, receive, send)
        return await self.app(scope, receive, send)


async def _buffered(receive):
    """The whole body (already bounded by GuardMiddleware), and a receive that hands it on again."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: pass that on
            return b"", _replay([message], receive)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, _replay([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replay(messages: list[dict], receive):
    async def replayed():
        return messages.pop(0) if messages else await receive()

    return replayed


class LastResortMiddleware:
    """Whatever escapes every handler: one log entry with the traceback, and for the client a
    generic 500 (or a 1011 close on the socket) that says nothing of the code."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            if message["type"] in ("http.response.start", "websocket.accept", "websocket.close"):
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method", "WS"), scope.get("path"))
            if started:
                return
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1011})
            else:
                response = JSONResponse({"detail": "internal error; the server log has the details"},
                                        status_code=500)
                await response(scope, receive, send)

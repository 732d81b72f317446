"""The boundary every request crosses, whatever route it is for (so a new route is covered too):

- the path and every query parameter: valid UTF-8 (no lone surrogates), no NUL, bounded length;
- a JSON body under /api: valid JSON that keeps workbench.domain.json_rules (depth, 64-bit
  integers, finite numbers, valid Unicode), checked once here instead of in every handler; never
  more than MAX_BODY_BYTES of it held (uploads are multipart, not buffered), big ones parsed off the loop;
- and, last, anything unexpected: logged, answered with a generic 500 (no traceback leaves).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from starlette.responses import JSONResponse

from workbench.domain.json_rules import checked_value, decode_problem
from workbench.web.security import MAX_BODY_BYTES

log = logging.getLogger(__name__)
MAX_PARAM_CHARS = 16_000  # longer than any id or list the page sends; the server's URL limit is about this
BODY_METHODS = {"POST", "PUT", "PATCH"}
OFF_LOOP_BYTES = 64 * 1024  # parsing and walking more than this would hold up every other request
TOO_BIG_JSON = f"a JSON request body is at most {MAX_BODY_BYTES} bytes; upload a file as multipart/form-data"


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
        # orjson refuses lone surrogates, NaN and depth past 255 itself; checked_value walks for the rest
        # and re-reads exactly an integer orjson could only keep as a float (10**23).
        problem = checked_value(orjson.loads(body), body)[1]
    except orjson.JSONDecodeError as exc:
        problem = decode_problem(exc)
    except (ValueError, RecursionError) as exc:  # the exact re-read: orjson took it, json should too
        problem = f"not valid JSON ({exc})"
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
            length = headers.get(b"content-length", b"")
            body = None
            if not (length.isdigit() and int(length) > MAX_BODY_BYTES):  # else: known too big, read nothing
                body, receive = await _buffered(receive, MAX_BODY_BYTES)
            if body is None:  # only an upload path lets a body this big past GuardMiddleware
                return await JSONResponse({"detail": TOO_BIG_JSON}, status_code=413)(scope, receive, send)
            if len(body) > OFF_LOOP_BYTES:
                problem = await asyncio.to_thread(body_problem, body)
            else:
                problem = body_problem(body)
            if problem is not None:
                return await JSONResponse({"detail": problem}, status_code=422)(scope, receive, send)
        return await self.app(scope, receive, send)


async def _buffered(receive, limit: int):
    """The whole body, and a receive that hands it on again; None for the body once it passes ``limit``
    bytes (what is left is never read)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left: pass that on
            return b"", _replay([message], receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, receive
        chunks.append(chunk)
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

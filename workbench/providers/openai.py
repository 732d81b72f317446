"""Any OpenAI-compatible chat-completions server: vLLM, SGLang, llama.cpp, Ollama, hosted.

aiohttp, because it is the cheapest client per request here (~0.5 ms CPU
against ~4 ms for the openai SDK and ~14 ms for httpx at 50 connections).
Structured output is asked for in the strongest form the server accepts:
``json_schema``, else ``json_object`` with a ``schema`` (llama-cpp-python's
form), else the prompt alone with tolerant JSON extraction by the caller.
"""

from __future__ import annotations

import asyncio
import os
import time
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import orjson
import yarl

from workbench.domain.outputs import RAW_TEXT_CAP, keep_raw
from workbench.providers.base import (
    CONFIG, HTTP, TIMEOUT, TRUNCATED, Generation, Provider, ProviderError, Request,
)
from workbench.providers.completion import read_completion

MODES = ("json_schema", "json_object", "prompt")
COOLDOWN_S = (1.0, 30.0)  # a failing replica sits out 1 s, doubling up to 30 s
OFF_LOOP_BYTES = 256 * 1024  # bigger bodies are decoded in a thread, so the loop keeps serving


class Replicas:
    """Least-busy routing over a model's base URLs; a replica that fails sits out a while."""

    def __init__(self, urls: list[str]):
        self.urls = urls
        self.busy = dict.fromkeys(urls, 0)
        self.down_until = dict.fromkeys(urls, 0.0)
        self.failures = dict.fromkeys(urls, 0)

    def pick(self) -> str:
        now = time.monotonic()
        healthy = [u for u in self.urls if self.down_until[u] <= now]
        if not healthy:  # all resting: the one back soonest
            return min(self.urls, key=lambda u: self.down_until[u])
        return min(healthy, key=lambda u: (self.busy[u], self.failures[u]))

    def failed(self, url: str) -> None:
        self.failures[url] += 1
        rest = min(COOLDOWN_S[1], COOLDOWN_S[0] * 2 ** (self.failures[url] - 1))
        self.down_until[url] = time.monotonic() + rest

    def succeeded(self, url: str) -> None:
        self.failures[url] = 0
        self.down_until[url] = 0.0


class OpenAIProvider(Provider):
    name = "openai"
    label = "OpenAI-compatible server"
    structured_modes = MODES
    needs_base_url = needs_model = uses_api_key = True
    learns_structured_output = True  # servers differ in the forms they accept; the probe finds out
    form_fields = ("base_url", "replicas", "model", "api_key_env", "structured_output", "max_concurrency", "params",
                   "max_response_bytes", "price_in", "price_out")

    def __init__(self, config):
        super().__init__(config)
        self._session: aiohttp.ClientSession | None = None
        self.replicas = Replicas(config.base_urls)
        # "auto" starts with the strongest form and steps down when the server rejects it.
        self.mode = MODES[0] if config.structured_output == "auto" else config.structured_output
        # Made once, not per request: aiohttp parses a URL given as text on every call.
        self._endpoints: dict[str, yarl.URL] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            per_replica = max(self.config.max_concurrency, 1) * 2
            connector = aiohttp.TCPConnector(limit=per_replica * len(self.replicas.urls), limit_per_host=per_replica,
                                             ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=lambda o: orjson.dumps(o).decode()
            )
        return self._session

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        env = self.config.api_key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise ProviderError(CONFIG, f"the API key variable {env} is not set in the environment")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _endpoint(self, base: str) -> yarl.URL:
        url = self._endpoints.get(base)
        if url is None:
            try:
                url = self._endpoints[base] = yarl.URL(f"{base}/chat/completions")
            except ValueError as exc:  # as aiohttp says it when given the text: a connection failure
                raise aiohttp.InvalidURL(base, str(exc)) from None
        return url

    def _body(self, request: Request, mode: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model, "messages": request.messages, **self.config.params.sampling()
        }
        if request.schema is not None and mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.schema, "strict": True},
            }
        elif request.schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": request.schema}
        return body

    async def generate(self, request: Request, mode: str | None = None) -> Generation:
        forced = mode is not None
        while True:
            current = mode or self.mode
            try:
                return await self._call(request, current)
            except ProviderError as exc:
                if forced or self.config.structured_output != "auto" or not exc.format_rejected:
                    raise
                # The server doesn't take this response_format: step down for good.
                self.mode = MODES[MODES.index(current) + 1]

    async def _call(self, request: Request, mode: str) -> Generation:
        base = self.replicas.pick()
        self.replicas.busy[base] += 1
        try:
            generation = await self._post(base, request, mode)
        except ProviderError as exc:
            if exc.retryable and exc.http_status != 429:  # down or broken, not merely busy
                self.replicas.failed(base)
            raise
        finally:
            self.replicas.busy[base] -= 1
        self.replicas.succeeded(base)
        return generation

    async def _post(self, base: str, request: Request, mode: str) -> Generation:
        body_dict = self._body(request, mode)
        body = orjson.dumps(body_dict)
        limit = self.config.max_response_bytes
        timeout = self._timeouts.get(request.timeout_s)
        if timeout is None:
            timeout = self._timeouts[request.timeout_s] = aiohttp.ClientTimeout(total=request.timeout_s)
        started = time.perf_counter()
        try:
            async with self._client().post(self._endpoint(base), data=body, headers=self._headers(),
                                           timeout=timeout) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                payload, unread = await read_capped(response, limit if status == 200 else RAW_TEXT_CAP)
        except asyncio.TimeoutError:
            raise ProviderError(TIMEOUT, f"no answer within {request.timeout_s:g} s", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise ProviderError(HTTP, f"connection failed: {exc or type(exc).__name__}", retryable=True) from None
        latency = time.perf_counter() - started
        if status != 200:
            message = _error_text(payload)
            rejected = "response_format" in body_dict and _rejects_format(status, message)
            raise ProviderError(
                HTTP, f"HTTP {status}: {message}", status=status, format_rejected=rejected,
                retry_after_s=_parse_retry_after(retry_after),
                retryable=not rejected and (status == 429 or status >= 500),
            )
        if unread:
            head = payload[:RAW_TEXT_CAP]
            raw = keep_raw(head.decode("utf-8", "ignore"), unread=len(payload) - len(head) + unread)
            raise ProviderError(TRUNCATED, f"the answer is larger than this model's max_response_bytes ({limit:,} "
                                           "bytes); the rest was not read", raw_text=raw)
        if len(payload) > OFF_LOOP_BYTES:
            return await asyncio.to_thread(read_completion, payload, structured_output=mode, latency_s=latency)
        return read_completion(payload, structured_output=mode, latency_s=latency)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, int]:
    """Up to ``limit`` bytes of the body, and how many more there were (at least) when it is bigger:
    then the connection is closed with the rest unread, so memory stays bounded whatever is sent."""
    length = response.content_length
    if length is not None and length > limit:  # said up front: read only what is kept as raw text
        head = await response.content.read(RAW_TEXT_CAP)
        response.close()
        return head, length - len(head)
    body = bytearray()
    while chunk := await response.content.readany():
        body += chunk
        if len(body) > limit:
            response.close()
            return bytes(body[:limit]), len(body) - limit
    return bytes(body), 0


def _rejects_format(status: int, message: str) -> bool:
    # 400/422 is the usual answer; llama-cpp-python's server answers its own
    # validation error about response_format with a 500.
    return status in (400, 422) or (status == 500 and "response_format" in message)


def _error_text(payload: bytes) -> str:
    try:
        data = orjson.loads(payload)
        error = data.get("error", data) if isinstance(data, dict) else data
        message = error.get("message", error) if isinstance(error, dict) else error
        text = message if isinstance(message, str) else orjson.dumps(message).decode()
    except Exception:  # noqa: BLE001 - any shape at all: show it as text
        text = payload.decode("utf-8", "replace")
    return keep_raw(" ".join(text.split())[:300])  # no U+0000 or lone surrogate: the message is stored


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except Exception:  # noqa: BLE001 - a header we can't read is no header
        return None

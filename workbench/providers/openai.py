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

from workbench.providers.base import CONFIG, HTTP, TIMEOUT, Generation, Provider, ProviderError, Request, register

MODES = ("json_schema", "json_object", "prompt")
COOLDOWN_S = (1.0, 30.0)  # a failing replica sits out 1 s, doubling up to 30 s


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
            return min(self.urls, key=self.down_until.get)
        return min(healthy, key=lambda u: (self.busy[u], self.failures[u]))

    def failed(self, url: str) -> None:
        self.failures[url] += 1
        rest = min(COOLDOWN_S[1], COOLDOWN_S[0] * 2 ** (self.failures[url] - 1))
        self.down_until[url] = time.monotonic() + rest

    def succeeded(self, url: str) -> None:
        self.failures[url] = 0
        self.down_until[url] = 0.0


@register
class OpenAIProvider(Provider):
    name = "openai"
    structured_modes = MODES

    def __init__(self, config):
        super().__init__(config)
        self._session: aiohttp.ClientSession | None = None
        self.replicas = Replicas(config.base_urls)
        # "auto" starts with the strongest form and steps down when the server rejects it.
        self.mode = MODES[0] if config.structured_output == "auto" else config.structured_output

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
            if exc.retryable and exc.status != 429:  # down or broken, not merely busy
                self.replicas.failed(base)
            raise
        finally:
            self.replicas.busy[base] -= 1
        self.replicas.succeeded(base)
        return generation

    async def _post(self, base: str, request: Request, mode: str) -> Generation:
        body_dict = self._body(request, mode)
        body = orjson.dumps(body_dict)
        started = time.perf_counter()
        try:
            async with self._client().post(
                f"{base}/chat/completions", data=body, headers=self._headers(),
                timeout=aiohttp.ClientTimeout(total=request.timeout_s),
            ) as response:
                payload = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
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
        try:
            data = orjson.loads(payload)
            text = data["choices"][0]["message"]["content"] or ""
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            # The HTTP envelope itself is broken (not the model's answer): a server fault.
            raise ProviderError(HTTP, f"malformed response body: {payload[:120]!r}", retryable=True) from None
        usage = data.get("usage") or {}
        return Generation(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=latency,
            structured_output=mode,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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
    except (orjson.JSONDecodeError, AttributeError):
        text = payload.decode("utf-8", "replace")
    return " ".join(text.split())[:300]


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None

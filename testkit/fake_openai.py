"""A fake OpenAI-compatible chat-completions server for runner tests and benchmarks.

In-process (own event loop in a background thread)::

    with FakeOpenAIServer(FaultConfig(latency_ms=5, error_429_rate=0.1)) as server:
        server.base_url          # "http://127.0.0.1:PORT/v1"
        server.config.down = True  # takes effect on the next request
        server.stats()           # {"total": ..., "outcomes": {...}, ...}

As a subprocess (prints ``READY <port>`` on stdout once listening)::

    python -m testkit.fake_openai --port 0 --latency-ms 20 --error-500-rate 0.05

and steer it from another process with ``POST /control`` (JSON body of FaultConfig
fields, plus ``"reset_stats": true``); read counters with ``GET /stats``.

Answers are deterministic: the screening verdict is a function of the last user
message and the request's ``model`` (two models agree on most records, not all).
Faults are drawn per request from ``random.Random(config.seed)``: every rate gets
its own independent draw, and when several fire the first in this order wins:
drop, hang, 500, 429, malformed JSON, schema violation.

Hostile answers (a misbehaving server, not a confused model) come after those, in
this order: content not text, bad usage, bad token counts, bad choices, deep JSON,
huge answer. They are drawn only when one of their rates is set (so the streams of
older seeds stay the same), and each cycles through its variants in turn (the first
answer of a mode gets variant 0, the next variant 1, ...), see ``HOSTILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import random
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable

from aiohttp import web

try:  # orjson is a project dependency, but keep the fake usable without it
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

    _loads: Callable[[str | bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover
    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    _loads = json.loads

RECOMMENDATIONS = ("Strong Yes", "Yes", "Maybe", "No", "Strong No")
GRADES = ("Strong", "Good", "Average", "Weak")
RESPONSE_FORMAT_TYPES = ("json_schema", "json_object", "text")
# Each hostile mode's variants; the envelope is the usual one but for the part named.
HOSTILE: dict[str, tuple[Any, ...]] = {
    "content_not_text": ({"recommendation": "Yes"}, 42, ["Yes"], True),  # message.content
    "bad_usage": ("lots", [1, 2], 12),  # usage
    "bad_token_counts": ("12", 1.5, -3, 2**63, 1e30, None),  # prompt_tokens and completion_tokens
    "bad_choices": ([], {"0": {}}, ["text"], [{"index": 0}], None),  # choices (None: no choices at all)
    "deep_json": (300,),  # a valid answer plus a field nested this deep (valid JSON, which orjson reads)
    "huge_answer": (None,),  # prose of huge_answer_bytes before the answer, streamed without a length
    "nul_content": ("prose", "json"),  # U+0000 in prose (no JSON), or in a string of a valid answer
}
OUTCOMES = ("ok", "drop", "hang", "error_500", "error_429", "malformed_json",
            "schema_violation", "down", "rejected_format", "bad_request", *HOSTILE)
MODEL_DISAGREEMENT = 0.3  # share of records on which a model shifts the base verdict

SCREENING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "recommendation": {"type": "string", "enum": list(RECOMMENDATIONS)},
        "trajectory": {"type": "string", "enum": list(GRADES)},
        "pedigree": {"type": "string", "enum": list(GRADES)},
        "reasoning": {"type": "string"},
    },
    "required": ["recommendation", "trajectory", "pedigree", "reasoning"],
}


@dataclass
class FaultConfig:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0      # extra uniform [0, jitter) on top of latency_ms
    error_500_rate: float = 0.0
    error_429_rate: float = 0.0
    retry_after_s: float = 1.0
    malformed_json_rate: float = 0.0
    schema_violation_rate: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 3600.0
    drop_rate: float = 0.0
    down: bool = False                  # every chat request gets its connection dropped
    reject_response_formats: set[str] = field(default_factory=set)
    seed: int = 0
    model_id: str = "fake-model"
    reasoning: str | None = None        # replaces the answer's reasoning text (e.g. an XSS probe)
    capacity: int = 0                   # requests served at once (0: no limit); the rest wait, like a GPU
    content_not_text_rate: float = 0.0  # message.content an object, a number, a list, true
    bad_usage_rate: float = 0.0         # usage a string, a list, a number
    bad_token_counts_rate: float = 0.0  # token counts "12", 1.5, -3, 2**63, 1e30, null
    bad_choices_rate: float = 0.0       # choices empty, an object, a list of text, without message; none
    deep_json_rate: float = 0.0         # the answer carries a value nested 300 deep
    huge_answer_rate: float = 0.0       # huge_answer_bytes of prose before the answer
    huge_answer_bytes: int = 50 * 1024 * 1024
    nul_content_rate: float = 0.0       # U+0000 in the answer: in prose, or inside a JSON string value
    length_rate: float = 0.0            # the answer stops at "max_tokens": cut in half, finish_reason "length"
    length_whole: bool = False          # ... but whole (it still parses), finish_reason "length" all the same

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (as sent to POST /control); raises ValueError on bad keys."""
        names = {f.name: f for f in dataclasses.fields(self)}
        unknown = set(changes) - set(names)
        if unknown:
            raise ValueError(f"unknown FaultConfig fields: {sorted(unknown)}")
        for key, value in changes.items():
            if key == "reject_response_formats":
                value = set(value or ())
            elif key in ("down", "length_whole"):
                value = bool(value)
            elif key in ("seed", "capacity", "huge_answer_bytes"):
                value = int(value)
            elif key in ("model_id",):
                value = str(value)
            elif key == "reasoning":
                value = None if value is None else str(value)
            else:
                value = float(value)
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["reject_response_formats"] = sorted(self.reject_response_formats)
        return d


def prompt_key(text: str) -> str:
    """The key used in ``requests_by_prompt`` for a user message."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _h(*parts: str) -> int:
    return int.from_bytes(hashlib.blake2b("\x00".join(parts).encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "big")


# All 5*4*4 valid answers, serialised once.
_ANSWERS = [
    json.dumps({"recommendation": r, "trajectory": t, "pedigree": p,
                "reasoning": f"{t} trajectory and {p.lower()} pedigree; overall {r.lower()}."})
    for r in RECOMMENDATIONS for t in GRADES for p in GRADES
]


def answer_for(user_text: str, model: str, schema: Any = None) -> str:
    """The (valid) JSON content the server returns for this prompt and model: for the candidate
    task's schema (or none) one of its answers; for any other flat schema, an instance of it."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(properties, dict) and set(properties) != set(_CANDIDATE_FIELDS):
        return json.dumps(_instance_of(properties, user_text, model))
    base = _h(user_text)
    rec, traj, ped = base % 5, (base >> 8) % 4, (base >> 16) % 4
    mh = _h(model, user_text)
    if mh % 1000 < MODEL_DISAGREEMENT * 1000:
        rec = (rec + (1 if (mh >> 12) & 1 else -1)) % 5
    return _ANSWERS[rec * 16 + traj * 4 + ped]


_CANDIDATE_FIELDS = ("recommendation", "trajectory", "pedigree", "reasoning")


def _instance_of(properties: dict[str, Any], user_text: str, model: str) -> dict[str, Any]:
    """A deterministic valid value per property (enum, string, number, integer, boolean); enums
    differ between models on MODEL_DISAGREEMENT of prompts, as the candidate answers do."""
    answer: dict[str, Any] = {}
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        pick = _h(name, user_text)
        if (_h(model, name, user_text) % 1000) < MODEL_DISAGREEMENT * 1000:
            pick += 1
        kind = spec.get("type")
        if isinstance(spec.get("enum"), list) and spec["enum"]:
            answer[name] = spec["enum"][pick % len(spec["enum"])]
        elif kind in ("integer", "number"):
            low, high = int(spec.get("minimum", 0)), int(spec.get("maximum", 100))
            answer[name] = low + pick % max(1, high - low + 1)
        elif kind == "boolean":
            answer[name] = bool(pick & 1)
        else:
            text = f"{name} for this record ({pick % 97})."
            answer[name] = text[: spec.get("maxLength", len(text))]
    return answer


def _schema_of(response_format: Any) -> Any:
    """The JSON Schema a request asks for: json_schema's, or json_object's (llama.cpp style)."""
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        return response_format["json_schema"].get("schema")
    return response_format.get("schema")


def _last_user_text(messages: Any) -> str:
    for msg in reversed(messages or ()):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return ""
    return ""


def _error(status: int, message: str, etype: str, headers: dict[str, str] | None = None,
           param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": etype, "param": param, "code": None}}
    return web.Response(body=_dumps(body), status=status, content_type="application/json",
                        headers=headers)


class FakeOpenAI:
    """State + aiohttp application. Use FakeOpenAIServer to run it."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._rng_seed = self.config.seed
        self.rng = random.Random(self._rng_seed)
        self._stopping: asyncio.Event | None = None
        self.in_flight = 0
        self._slots: tuple[int, asyncio.Semaphore] | None = None
        self.reset_stats()

    def reset_stats(self) -> None:
        self.total = 0
        self.outcomes: Counter[str] = Counter()
        self.requests_by_prompt: Counter[str] = Counter()
        self.requests_by_model: Counter[str] = Counter()
        self.requests_by_model_prompt: Counter[tuple[str, str]] = Counter()  # (model, prompt key)
        self.authorizations: Counter[str] = Counter()  # Authorization headers seen
        self.message_counts: dict[str, int] = {}  # prompt key -> messages in its latest request
        self.bytes_sent = 0  # of huge answers, as far as the client read them
        self.max_in_flight = 0
        self.recent_bodies: deque[dict[str, Any]] = deque(maxlen=1000)  # the latest request bodies, as sent
        self.first_request_at: float | None = None  # wall clock (time.time()): when the client began asking
        self.last_answer_at: float | None = None  # and when its last answer was sent

    def stats(self) -> dict[str, Any]:
        return {"total": self.total, "outcomes": dict(self.outcomes),
                "requests_by_prompt": dict(self.requests_by_prompt),
                "requests_by_model": dict(self.requests_by_model),
                "max_in_flight": self.max_in_flight, "bytes_sent": self.bytes_sent,
                "first_request_at": self.first_request_at, "last_answer_at": self.last_answer_at,
                "config": self.config.to_dict()}

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/stats", self.get_stats)
        app.router.add_get("/control", self.get_control)
        app.router.add_post("/control", self.post_control)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self._stopping = asyncio.Event()

    async def _on_shutdown(self, app: web.Application) -> None:
        if self._stopping is not None:
            self._stopping.set()  # wake hung handlers so shutdown is quick

    # ---- handlers ---------------------------------------------------------------
    async def chat(self, request: web.Request) -> web.StreamResponse:
        if self.first_request_at is None:
            self.first_request_at = time.time()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            capacity = self.config.capacity
            if capacity <= 0:
                return await self._chat(request)
            if self._slots is None or self._slots[0] != capacity:
                self._slots = (capacity, asyncio.Semaphore(capacity))
            async with self._slots[1]:
                return await self._chat(request)
        finally:
            self.in_flight -= 1
            self.last_answer_at = time.time()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        self.total += 1
        self.authorizations[request.headers.get("Authorization", "")] += 1
        if cfg.down:
            return self._drop(request, "down")
        try:
            body = _loads(await request.read())
            messages = body["messages"]
        except Exception:
            self.outcomes["bad_request"] += 1
            return _error(400, "could not parse request body", "invalid_request_error")
        if isinstance(body, dict):
            self.recent_bodies.append(body)
        model = str(body.get("model") or cfg.model_id)
        user_text = _last_user_text(messages)
        self.requests_by_prompt[prompt_key(user_text)] += 1
        self.message_counts[prompt_key(user_text)] = len(messages)
        self.requests_by_model[model] += 1
        self.requests_by_model_prompt[(model, prompt_key(user_text))] += 1

        rf = body.get("response_format")
        if cfg.reject_response_formats and isinstance(rf, dict) \
                and rf.get("type") in cfg.reject_response_formats:
            self.outcomes["rejected_format"] += 1
            return _error(400, f"response_format type {rf.get('type')!r} is not supported",
                          "invalid_request_error", param="response_format")

        if cfg.seed != self._rng_seed:
            self._rng_seed = cfg.seed
            self.rng = random.Random(cfg.seed)
        rnd = self.rng.random
        # one independent draw per fault (always all of them, so the stream is stable)
        d_drop, d_hang, d_500, d_429, d_mal, d_sch = rnd(), rnd(), rnd(), rnd(), rnd(), rnd()

        delay = cfg.latency_ms + (rnd() * cfg.latency_jitter_ms if cfg.latency_jitter_ms else 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)

        if d_drop < cfg.drop_rate:
            return self._drop(request, "drop")
        if d_hang < cfg.hang_rate:
            self.outcomes["hang"] += 1
            assert self._stopping is not None
            try:
                await asyncio.wait_for(self._stopping.wait(), cfg.hang_s)
            except asyncio.TimeoutError:
                pass
            return self._drop(request, None)
        if d_500 < cfg.error_500_rate:
            self.outcomes["error_500"] += 1
            return _error(500, "The server had an error while processing your request.",
                          "server_error")
        if d_429 < cfg.error_429_rate:
            self.outcomes["error_429"] += 1
            ra = cfg.retry_after_s
            return _error(429, "Rate limit reached. Please try again later.", "rate_limit_error",
                          headers={"Retry-After": f"{ra:g}"})

        hostile = self._draw_hostile()
        schema = _schema_of(rf)
        content = answer_for(user_text, model, schema)
        if cfg.reasoning is not None:
            content = _dumps({**_loads(content), "reasoning": cfg.reasoning}).decode()
        if d_mal < cfg.malformed_json_rate:
            outcome = "malformed_json"
            content = (f"Sure! Here is the assessment you asked for:\n\n{content}"
                       if self.rng.random() < 0.5 else content[: len(content) // 2])
        elif d_sch < cfg.schema_violation_rate:
            outcome = "schema_violation"
            obj = json.loads(content)
            kind = self.rng.randrange(3)
            if kind == 0:
                obj["recommendation"] = "Definitely"
            elif kind == 1:
                del obj["recommendation"]
            else:
                obj["trajectory"] = 3
            content = json.dumps(obj)
        else:
            outcome = "ok"
        finish_reason = "stop"
        # Drawn only when asked for, so the other faults' streams stay as they were.
        if cfg.length_rate and outcome == "ok" and self.rng.random() < cfg.length_rate:
            outcome, finish_reason = "length", "length"
            if not cfg.length_whole:
                content = content[: len(content) // 2]
        if hostile is not None and outcome == "ok":
            return await self._hostile(request, hostile, answer_for(user_text, model, schema), model)
        self.outcomes[outcome] += 1
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages
                            if isinstance(m, dict)) // 4 + 8
        completion_tokens = len(content) // 4 + 1
        resp = {
            "id": f"chatcmpl-fake{self.total}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }
        return web.Response(body=_dumps(resp), content_type="application/json")

    def _draw_hostile(self) -> tuple[str, Any] | None:
        """The hostile mode (and its variant) of this answer, if any."""
        cfg = self.config
        rates = [(mode, getattr(cfg, f"{mode}_rate")) for mode in HOSTILE]
        if not any(rate for _, rate in rates):
            return None
        draws = [self.rng.random() for _ in rates]  # all of them, so the stream is stable
        for (mode, rate), draw in zip(rates, draws, strict=True):
            if draw < rate:
                variants = HOSTILE[mode]
                return mode, variants[self.outcomes[mode] % len(variants)]
        return None

    async def _hostile(self, request: web.Request, hostile: tuple[str, Any], content: str,
                       model: str) -> web.StreamResponse:
        mode, variant = hostile
        self.outcomes[mode] += 1
        message: dict[str, Any] = {"role": "assistant", "content": content}
        usage: Any = {"prompt_tokens": 10, "completion_tokens": len(content) // 4 + 1}
        choices: Any = [{"index": 0, "finish_reason": "stop", "message": message}]
        if mode == "content_not_text":
            message["content"] = variant
        elif mode == "bad_usage":
            usage = variant
        elif mode == "bad_token_counts":
            usage = {"prompt_tokens": variant, "completion_tokens": variant}
        elif mode == "bad_choices":
            choices = variant
        elif mode == "deep_json":
            deep: Any = 1
            for _ in range(variant):
                deep = [deep]
            message["content"] = json.dumps({**json.loads(content), "extra": deep})
        elif mode == "huge_answer":
            return await self._huge(request, content, model)
        elif mode == "nul_content" and variant == "prose":
            message["content"] = "abc\u0000 I would rather not say.\u0000"
        elif mode == "nul_content":
            answer = json.loads(content)
            message["content"] = json.dumps({**answer, "reasoning": f"{answer.get('reasoning', '')}\u0000"})
        resp: dict[str, Any] = {"id": f"chatcmpl-fake{self.total}", "object": "chat.completion",
                                "model": model, "usage": usage}
        if choices is not None:
            resp["choices"] = choices
        # json, not orjson: 2**63 and 300 levels are valid JSON that orjson won't write.
        return web.Response(body=json.dumps(resp).encode(), content_type="application/json")

    async def _huge(self, request: web.Request, content: str, model: str) -> web.StreamResponse:
        """An envelope of huge_answer_bytes, generated as it is sent: a client that stops reading
        costs neither side memory. No Content-Length, so the client can't refuse it up front."""
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        head = (f'{{"id":"chatcmpl-fake{self.total}","object":"chat.completion","model":{json.dumps(model)},'
                f'"choices":[{{"index":0,"finish_reason":"stop","message":{{"role":"assistant","content":"'
                f'Let me think about it. ').encode()
        tail = (json.dumps(content)[1:-1] + '"}}],"usage":{"prompt_tokens":10,"completion_tokens":10}}').encode()
        chunk = b"blah " * (64 * 1024 // 5)
        left = max(self.config.huge_answer_bytes - len(head) - len(tail), 0)
        try:
            await resp.write(head)
            self.bytes_sent += len(head)
            while left > 0:
                piece = chunk[:left]
                await resp.write(piece)
                self.bytes_sent += len(piece)
                left -= len(piece)
            await resp.write(tail)
            self.bytes_sent += len(tail)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):  # the client stopped reading: what it should do
            pass
        return resp

    def _drop(self, request: web.Request, outcome: str | None) -> web.StreamResponse:
        if outcome:
            self.outcomes[outcome] += 1
        if request.transport is not None:
            request.transport.close()
        # The transport is gone; aiohttp quietly discards the response.
        return web.Response(status=503)

    async def models(self, request: web.Request) -> web.Response:
        if self.config.down:
            return _error(503, "server is down", "server_error")
        return web.json_response({"object": "list", "data": [
            {"id": self.config.model_id, "object": "model", "created": 0, "owned_by": "fake"}]})

    async def health(self, request: web.Request) -> web.Response:
        if self.config.down:
            return web.json_response({"status": "down"}, status=503)
        return web.json_response({"status": "ok"})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.Response(body=_dumps(self.stats()), content_type="application/json")

    async def get_control(self, request: web.Request) -> web.Response:
        return web.json_response(self.config.to_dict())

    async def post_control(self, request: web.Request) -> web.Response:
        try:
            changes = dict(await request.json())
            reset = bool(changes.pop("reset_stats", False))
            self.config.update(changes)
        except (ValueError, TypeError) as exc:
            return _error(400, str(exc), "invalid_request_error")
        if reset:
            self.reset_stats()
        return web.json_response(self.config.to_dict())


async def _start_site(fake: FakeOpenAI, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(fake.make_app(), access_log=None, handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    site = web.SockSite(runner, sock, backlog=2048)
    await site.start()
    return runner, sock.getsockname()[1]


class FakeOpenAIServer:
    """Runs FakeOpenAI on 127.0.0.1 in a background thread with its own event loop."""

    def __init__(self, config: FaultConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.fake = FakeOpenAI(config)
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # pass-throughs to the state object
    @property
    def config(self) -> FaultConfig:
        return self.fake.config

    @property
    def requests_by_prompt(self) -> Counter[str]:
        return self.fake.requests_by_prompt

    @property
    def requests_by_model_prompt(self) -> Counter[tuple[str, str]]:
        return self.fake.requests_by_model_prompt

    @property
    def outcomes(self) -> Counter[str]:
        return self.fake.outcomes

    @property
    def total(self) -> int:
        return self.fake.total

    def stats(self) -> dict[str, Any]:
        return self.fake.stats()

    def reset_stats(self) -> None:
        self.fake.reset_stats()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> "FakeOpenAIServer":
        ready = threading.Event()
        error: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._runner, self.port = loop.run_until_complete(
                    _start_site(self.fake, self.host, self.port))
            except BaseException as exc:  # surface bind errors to the caller
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(30)
        if error:
            raise error[0]
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or self._thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(30)
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, FaultConfig]:
    p = argparse.ArgumentParser(prog="python -m testkit.fake_openai", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    defaults = FaultConfig()
    for f in dataclasses.fields(FaultConfig):
        opt = "--" + f.name.replace("_", "-")
        if f.name == "reject_response_formats":
            p.add_argument(opt, default="", help="comma-separated, e.g. json_schema,json_object")
        elif f.name in ("down", "length_whole"):
            p.add_argument(opt, action="store_true")
        else:
            p.add_argument(opt, type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name))
    ns = p.parse_args(argv)
    cfg = FaultConfig(**{f.name: getattr(ns, f.name) for f in dataclasses.fields(FaultConfig)
                         if f.name != "reject_response_formats"})
    cfg.reject_response_formats = {s.strip() for s in ns.reject_response_formats.split(",") if s.strip()}
    return ns, cfg


def main(argv: list[str] | None = None) -> None:
    import signal

    ns, cfg = _parse_args(argv)

    async def serve() -> None:
        runner, port = await _start_site(FakeOpenAI(cfg), ns.host, ns.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"READY {port}", flush=True)
        await stop.wait()
        await runner.cleanup()

    try:
        import uvloop  # type: ignore[import-not-found]
        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())
    sys.stdout.flush()


if __name__ == "__main__":
    main()

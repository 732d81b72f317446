"""Quick checks of the test-support servers: the fake OpenAI server and the tiny GGUF model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from testkit.fake_openai import (
    RECOMMENDATIONS,
    SCREENING_SCHEMA,
    FakeOpenAIServer,
    FaultConfig,
    prompt_key,
)

try:
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None

REPO = Path(__file__).resolve().parents[1]


def _messages(text: str) -> list[dict]:
    return [{"role": "system", "content": "You screen candidates."}, {"role": "user", "content": text}]


@pytest.fixture(scope="module")
def _server():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def server(_server):
    _server.fake.config = FaultConfig()
    _server.reset_stats()
    return _server


async def _post(session, base_url, text, model="fake-model", timeout=5.0, **extra):
    """POST one chat completion; returns (outcome, response-json-or-None, headers)."""
    body = {"model": model, "messages": _messages(text), **extra}
    try:
        async with session.post(f"{base_url}/chat/completions", json=body,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            data = await r.json(content_type=None)
            return r.status, data, r.headers
    except asyncio.TimeoutError:
        return "timeout", None, {}
    except aiohttp.ClientConnectionError:
        return "dropped", None, {}


def _classify(status, data) -> str:
    if status != 200:
        return str(status)
    content = data["choices"][0]["message"]["content"]
    try:
        obj = json.loads(content)
    except ValueError:
        return "malformed"
    if set(obj) != set(SCREENING_SCHEMA["required"]) or obj["recommendation"] not in RECOMMENDATIONS \
            or obj["trajectory"] not in SCREENING_SCHEMA["properties"]["trajectory"]["enum"]:
        return "violation"
    return "ok"


def _run_many(base_url, texts, model="fake-model", concurrency=32, **kw):
    async def go():
        sem = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession() as session:
            async def one(t):
                async with sem:
                    return await _post(session, base_url, t, model=model, **kw)
            return await asyncio.gather(*(one(t) for t in texts))
    return asyncio.run(go())


def test_answers_are_deterministic_and_valid(server):
    texts = [f"candidate {i}" for i in range(60)]
    a = _run_many(server.base_url, texts, model="model-a")
    a2 = _run_many(server.base_url, texts, model="model-a")
    b = _run_many(server.base_url, texts, model="model-b")
    contents = lambda rs: [r[1]["choices"][0]["message"]["content"] for r in rs]  # noqa: E731
    assert contents(a) == contents(a2)
    for status, data, _ in a + b:
        assert status == 200 and _classify(status, data) == "ok"
        if jsonschema:
            jsonschema.validate(json.loads(data["choices"][0]["message"]["content"]), SCREENING_SCHEMA)
        u = data["usage"]
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] > 0
    recs_a = [json.loads(c)["recommendation"] for c in contents(a)]
    recs_b = [json.loads(c)["recommendation"] for c in contents(b)]
    disagree = sum(x != y for x, y in zip(recs_a, recs_b, strict=True))
    assert 0 < disagree < len(texts) // 2
    assert len(set(recs_a)) >= 3  # answers vary across records
    assert server.total == 180 and server.outcomes["ok"] == 180
    assert server.requests_by_prompt[prompt_key("candidate 7")] == 3
    assert prompt_key("never sent") not in server.requests_by_prompt


def test_models_health_stats(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.get(server.base_url + "/models") as r:
                models = await r.json()
            async with s.get(server.url + "/health") as r:
                health = (r.status, await r.json())
            await _post(s, server.base_url, "hello")
            async with s.get(server.url + "/stats") as r:
                stats = await r.json()
        return models, health, stats
    models, health, stats = asyncio.run(go())
    assert models["data"][0]["id"] == "fake-model"
    assert health == (200, {"status": "ok"})
    assert stats["total"] == 1 and stats["outcomes"] == {"ok": 1}
    assert stats["requests_by_prompt"] == {prompt_key("hello"): 1}


def test_fault_rates_roughly_match(server):
    server.config.update(dict(error_500_rate=0.1, error_429_rate=0.1, malformed_json_rate=0.1,
                              schema_violation_rate=0.1, drop_rate=0.05, seed=7))
    n = 300
    results = _run_many(server.base_url, [f"r{i}" for i in range(n)])
    seen = Counter("dropped" if s == "dropped" else _classify(s, d) for s, d, _ in results)
    # independent draws, first fault wins in order drop, 500, 429, malformed, violation
    p_drop, p = 0.05, 0.1
    expected = {"dropped": p_drop, "500": (1 - p_drop) * p, "429": (1 - p_drop) * (1 - p) * p,
                "malformed": (1 - p_drop) * (1 - p) ** 2 * p,
                "violation": (1 - p_drop) * (1 - p) ** 3 * p}
    for key, rate in expected.items():
        assert abs(seen[key] / n - rate) < 0.06, (key, seen)
    assert seen["ok"] / n == pytest.approx((1 - p_drop) * (1 - p) ** 4, abs=0.08)
    out = server.outcomes
    assert (out["drop"], out["error_500"], out["error_429"], out["malformed_json"],
            out["schema_violation"], out["ok"]) == (seen["dropped"], seen["500"], seen["429"],
                                                    seen["malformed"], seen["violation"], seen["ok"])
    assert server.total == n


def test_429_carries_retry_after(server):
    server.config.error_429_rate = 1.0
    server.config.retry_after_s = 3
    (status, data, headers), = _run_many(server.base_url, ["x"])
    assert status == 429 and headers["Retry-After"] == "3"
    assert data["error"]["type"] == "rate_limit_error"


def test_reject_response_formats(server):
    server.config.reject_response_formats = {"json_schema"}
    schema_rf = {"type": "json_schema", "json_schema": {"name": "s", "schema": SCREENING_SCHEMA}}
    (status, data, _), = _run_many(server.base_url, ["x"], response_format=schema_rf)
    assert status == 400 and data["error"]["param"] == "response_format"
    (status, data, _), = _run_many(server.base_url, ["x"], response_format={"type": "json_object"})
    assert status == 200 and _classify(status, data) == "ok"
    assert server.outcomes == Counter(rejected_format=1, ok=1)


def test_hang_and_down(server):
    server.config.hang_rate = 1.0
    t0 = time.perf_counter()
    (status, _, _), = _run_many(server.base_url, ["x"], timeout=0.3)
    assert status == "timeout" and time.perf_counter() - t0 < 2
    server.config.hang_rate = 0.0
    server.config.down = True
    (status, _, _), = _run_many(server.base_url, ["x"])
    assert status == "dropped"
    assert server.outcomes == Counter(hang=1, down=1)


def test_control_endpoint_changes_config(server):
    async def go():
        async with aiohttp.ClientSession() as s:
            async with s.post(server.url + "/control", json={"latency_ms": 150, "reset_stats": True}) as r:
                assert r.status == 200 and (await r.json())["latency_ms"] == 150
            t0 = time.perf_counter()
            status, _, _ = await _post(s, server.base_url, "slow")
            elapsed = time.perf_counter() - t0
            async with s.post(server.url + "/control", json={"down": True, "latency_ms": 0}) as r:
                assert r.status == 200
            async with s.get(server.url + "/health") as r:
                health = r.status
            down_status, _, _ = await _post(s, server.base_url, "x")
            async with s.post(server.url + "/control", json={"nope": 1}) as r:
                bad = r.status
        return status, elapsed, health, down_status, bad
    status, elapsed, health, down_status, bad = asyncio.run(go())
    assert status == 200 and elapsed >= 0.14
    assert server.config.latency_ms == 0 and server.config.down is True
    assert health == 503 and down_status == "dropped" and bad == 400


def test_subprocess_mode():
    proc = subprocess.Popen([sys.executable, "-m", "testkit.fake_openai", "--port", "0",
                             "--error-429-rate", "1", "--retry-after-s", "2"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        assert line[0] == "READY"
        base = f"http://127.0.0.1:{int(line[1])}/v1"
        (status, _, headers), = _run_many(base, ["x"])
        assert status == 429 and headers["Retry-After"] == "2"
    finally:
        proc.terminate()
        proc.wait(10)


# ---- tiny GGUF through llama.cpp ----------------------------------------------------

YES_NO_SCHEMA = {
    "type": "object",
    "properties": {
        "recommendation": {"type": "string", "enum": ["Yes", "No"]},
        "reasoning": {"type": "string", "maxLength": 50},
    },
    "required": ["recommendation", "reasoning"],
}


def test_tiny_gguf_is_deterministic(tmp_path):
    pytest.importorskip("gguf", reason="the gguf package is not installed")
    from testkit.tiny_gguf import write_tiny_gguf

    a = write_tiny_gguf(tmp_path / "a.gguf").read_bytes()
    b = write_tiny_gguf(tmp_path / "b.gguf").read_bytes()
    assert a == b and len(a) < 1_000_000


@pytest.mark.engine
def test_tiny_gguf_gives_schema_valid_json(tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    pytest.importorskip("gguf", reason="the gguf package is not installed")
    from testkit.tiny_gguf import write_tiny_gguf

    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=1, verbose=False)
    assert time.perf_counter() - t0 < 1.0
    for i, temperature in enumerate([0.0, 0.2, 0.2, 1.0, 1.0]):
        out = llm.create_chat_completion(
            messages=[{"role": "system", "content": "Answer in JSON."},
                      {"role": "user", "content": f"Should we hire candidate {i}?"}],
            response_format={"type": "json_object", "schema": YES_NO_SCHEMA},
            max_tokens=200, seed=i, temperature=temperature)
        assert out["choices"][0]["finish_reason"] == "stop"
        obj = json.loads(out["choices"][0]["message"]["content"])
        if jsonschema:
            jsonschema.validate(obj, YES_NO_SCHEMA)
        assert obj["recommendation"] in ("Yes", "No") and len(obj["reasoning"]) <= 50

"""Providers over real HTTP (a fake OpenAI server and llama.cpp's server) and in-process engines."""

from __future__ import annotations

import asyncio

import pytest

from testkit.fake_openai import FakeOpenAIServer, FaultConfig
from testkit.tiny_gguf import write_tiny_gguf
from workbench.domain.models import ModelConfig
from workbench.domain.outputs import parse_output
from testkit.synthetic import generate_candidates
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.providers import ProviderError, Request, create_provider
from workbench.providers.probe import test_connection as probe

RECORDS = list(generate_candidates(3, seed=7))


def request_for(record, timeout_s=30.0) -> Request:
    return Request(messages=TASK.render(record), schema=TASK.output_schema, record=record, timeout_s=timeout_s)


def openai_model(base_url, **extra) -> ModelConfig:
    return ModelConfig(id="m", provider="openai", base_url=base_url, model="fake-a", **extra)


async def generate(config, record, **kw):
    provider = create_provider(config)
    try:
        return await provider.generate(request_for(record, **kw))
    finally:
        await provider.aclose()


def test_openai_answer_and_usage():
    with FakeOpenAIServer() as server:
        gen = asyncio.run(generate(openai_model(server.base_url), RECORDS[0]))
    parsed = parse_output(gen.text, TASK)
    assert parsed.ok, parsed.error_message
    assert gen.input_tokens > 0 and gen.output_tokens > 0
    assert gen.structured_output == "json_schema"


@pytest.mark.parametrize("status_rate, retryable", [("error_500_rate", True), ("error_429_rate", True)])
def test_openai_server_errors_are_typed(status_rate, retryable):
    with FakeOpenAIServer(FaultConfig(**{status_rate: 1.0}, retry_after_s=7)) as server:
        with pytest.raises(ProviderError) as info:
            asyncio.run(generate(openai_model(server.base_url), RECORDS[0]))
    assert info.value.kind == "http" and info.value.retryable is retryable
    if status_rate == "error_429_rate":
        assert info.value.http_status == 429 and info.value.retry_after_s == 7


def test_openai_timeout_and_dropped_connection():
    with FakeOpenAIServer(FaultConfig(hang_rate=1.0)) as server:
        with pytest.raises(ProviderError) as info:
            asyncio.run(generate(openai_model(server.base_url), RECORDS[0], timeout_s=0.3))
        assert info.value.kind == "timeout" and info.value.retryable
        server.config.hang_rate, server.config.drop_rate = 0.0, 1.0
        with pytest.raises(ProviderError) as info:
            asyncio.run(generate(openai_model(server.base_url), RECORDS[0]))
        assert info.value.kind == "http" and info.value.retryable


def test_openai_steps_down_when_response_format_is_rejected():
    async def two_calls(config):
        provider = create_provider(config)
        try:
            first = await provider.generate(request_for(RECORDS[0]))
            second = await provider.generate(request_for(RECORDS[1]))
            return first, second
        finally:
            await provider.aclose()

    with FakeOpenAIServer(FaultConfig(reject_response_formats={"json_schema"})) as server:
        first, second = asyncio.run(two_calls(openai_model(server.base_url)))
        assert (first.structured_output, second.structured_output) == ("json_object", "json_object")
        assert server.fake.outcomes["rejected_format"] == 1  # remembered after the first rejection
        server.config.reject_response_formats = {"json_schema", "json_object"}
        gen = asyncio.run(generate(openai_model(server.base_url), RECORDS[0]))
        assert gen.structured_output == "prompt" and parse_output(gen.text, TASK).ok


def test_api_key_comes_from_the_named_env_var(monkeypatch):
    config = openai_model("http://127.0.0.1:9/v1", api_key_env="WB_TEST_KEY")
    monkeypatch.delenv("WB_TEST_KEY", raising=False)
    with pytest.raises(ProviderError, match="WB_TEST_KEY is not set"):
        asyncio.run(generate(config, RECORDS[0]))
    monkeypatch.setenv("WB_TEST_KEY", "sk-test-123")
    with FakeOpenAIServer() as server:
        asyncio.run(generate(openai_model(server.base_url, api_key_env="WB_TEST_KEY"), RECORDS[0]))
        assert server.fake.authorizations == {"Bearer sk-test-123": 1}


def test_probe_reports_the_form_that_works():
    with FakeOpenAIServer(FaultConfig(reject_response_formats={"json_schema"})) as server:
        result = asyncio.run(probe(openai_model(server.base_url), TASK, RECORDS[0]))
    assert result.ok and result.structured_output == "json_object"
    assert [(a.mode, a.ok) for a in result.attempts] == [("json_schema", False), ("json_object", True)]
    assert result.latency_ms is not None and set(result.output) == set(TASK.field_names)


def test_probe_reports_an_unreachable_server():
    result = asyncio.run(probe(openai_model("http://127.0.0.1:9/v1"), TASK, RECORDS[0], timeout_s=5))
    assert not result.ok and "connection failed" in result.error


def test_baseline_answers_validate():
    config = ModelConfig(id="b", provider="baseline")
    for record in RECORDS + [{}, {"years_experience": "lots"}]:
        parsed = parse_output(asyncio.run(generate(config, record)).text, TASK)
        assert parsed.ok, parsed.error_message
        assert parsed.value["reasoning"].startswith("Rule-based baseline")


def test_local_provider_with_a_tiny_gguf(tmp_path):
    """A real llama.cpp engine with meaningless weights: the schema grammar still holds."""
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    config = ModelConfig(id="tiny", provider="local", model=str(path), params={"max_tokens": 200})
    gen = asyncio.run(generate(config, RECORDS[0]))
    parsed = parse_output(gen.text, TASK)
    assert parsed.ok, (parsed.error_message, gen.text)
    assert gen.output_tokens > 0 and gen.structured_output == "json_object"


def test_local_provider_reports_a_missing_file(tmp_path):
    config = ModelConfig(id="x", provider="local", model=str(tmp_path / "nope.gguf"))
    with pytest.raises(ProviderError, match="no GGUF model file"):
        asyncio.run(generate(config, RECORDS[0]))


@pytest.mark.engine
def test_embedded_smollm2_answers_validate():
    config = ModelConfig(id="smollm2", provider="local", model="smollm2", params={"max_tokens": 200})
    for record in RECORDS[:2]:
        gen = asyncio.run(generate(config, record))
        parsed = parse_output(gen.text, TASK)
        assert parsed.ok, (parsed.error_message, gen.text)
        assert gen.input_tokens > 100


@pytest.mark.engine
def test_openai_provider_against_llama_cpp_server(llama_server):
    """The real engine over real HTTP: llama-cpp-python's server with SmolLM2."""
    config = ModelConfig(id="llama", provider="openai", base_url=llama_server, model="smollm2",
                         params={"max_tokens": 200})
    result = asyncio.run(probe(config, TASK, RECORDS[0], timeout_s=120))
    assert result.ok, result.error
    # llama-cpp-python's server only takes the json_object + schema form.
    assert result.structured_output == "json_object"
    assert result.attempts[0].mode == "json_schema" and not result.attempts[0].ok
    for record in RECORDS[1:]:
        gen = asyncio.run(generate(config, record, timeout_s=120))
        parsed = parse_output(gen.text, TASK)
        assert parsed.ok, (parsed.error_message, gen.text)
        assert gen.input_tokens > 100 and gen.output_tokens > 0


# ---- the registry: providers are found, and each declares what the rest of the app asks ----------

def test_the_registry_finds_the_bundled_providers_and_their_declarations():
    from workbench.providers.registry import describe_providers, provider_class, provider_names

    assert {"openai", "local", "baseline"} <= set(provider_names())
    described = {p["name"]: p for p in describe_providers()}
    assert described["openai"]["needs_base_url"] and described["openai"]["learns_structured_output"]
    assert "base_url" in described["openai"]["form_fields"] and "base_url" not in described["baseline"]["form_fields"]
    assert described["local"]["default_model"] == "smollm2"
    assert not provider_class("baseline").cacheable and provider_class("openai").cacheable
    assert all(p["label"] and p["form_fields"] for p in described.values())


def test_an_unknown_provider_names_the_known_ones():
    from workbench.domain.models import ModelConfigError
    from workbench.providers.registry import create_provider, provider_class

    with pytest.raises(ModelConfigError, match="unknown provider 'magic'; known: .*openai"):
        provider_class("magic")
    with pytest.raises(ModelConfigError, match="unknown provider"):
        create_provider(ModelConfig(id="m", provider="magic"))


def test_model_checks_come_from_the_providers_declarations():
    from workbench.domain.models import ModelConfigError
    from workbench.providers.registry import check_model

    assert check_model(ModelConfig(id="b", provider="baseline")).provider == "baseline"
    with pytest.raises(ModelConfigError, match="^model 'o': model: the openai provider needs a base URL"):
        check_model(ModelConfig(id="o", provider="openai", model="m"))
    with pytest.raises(ModelConfigError, match="needs the server's model name"):
        check_model(ModelConfig(id="o", provider="openai", base_url="http://127.0.0.1:9/v1"))


def test_finding_the_providers_loads_no_engine():
    """`local` imports llama.cpp only when it first answers, so the CLI's help stays light."""
    import subprocess
    import sys

    code = ("import sys; from workbench.providers.registry import describe_providers; describe_providers(); "
            "print('llama_cpp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

"""What the runner does once instead of per record must give the same results: the cache key a stored
answer is found by, the endpoint a request goes to, a hostile base URL still a typed error."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testkit.fake_openai import FakeOpenAIServer
from tests.test_runner_pieces import a_run
from workbench.domain.models import ModelConfig
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.providers import ProviderError, Request, create_provider
from workbench.providers.base import HTTP
from workbench.runner.asking import cache_key, cache_keys

TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
MESSAGES = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]),
                                           "content": TEXT}), max_size=4)


def key_as_stored(run, messages, schema) -> str:
    """The key answers already in a response cache were stored under (the formula before #17)."""
    m = run.model
    identity = {"provider": m.provider, "base_url": m.base_url, "model": m.model, "params": m.params.to_dict(),
                "structured_output": m.structured_output, "messages": messages, "schema": schema}
    return hashlib.sha256(orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)).hexdigest()


@settings(max_examples=200, deadline=None)
@given(messages=MESSAGES, host=st.from_regex(r"[a-z0-9.]{1,20}", fullmatch=True), model=TEXT,
       temperature=st.floats(0, 2))
def test_a_runs_cache_keys_are_the_keys_answers_were_stored_under(messages, host, model, temperature):
    run = a_run(model=ModelConfig(id="m", provider="openai", base_url=f"http://{host}/v1", model=model,
                                  params={"temperature": temperature}))
    keys = cache_keys(run, TASK.output_schema)
    assert keys(messages) == key_as_stored(run, messages, TASK.output_schema)
    assert cache_key(run, messages, TASK.output_schema) == keys(messages)


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:99999/v1", "http://[::1/v1", "http://[zz::1]/v1"])
def test_a_base_url_aiohttp_cant_take_is_a_connection_error(base_url):
    async def ask():
        provider = create_provider(ModelConfig(id="m", provider="openai", base_url=base_url, model="x"))
        try:
            with pytest.raises(ProviderError) as caught:
                await provider.generate(Request(messages=TASK.render({"name": "a"}), timeout_s=5))
            return caught.value
        finally:
            await provider.aclose()

    error = asyncio.run(ask())
    assert error.kind == HTTP and error.retryable and "connection failed" in str(error)


def test_each_replica_is_asked_at_its_own_endpoint_made_once():
    with FakeOpenAIServer() as one, FakeOpenAIServer() as two:
        config = ModelConfig(id="m", provider="openai", base_url=one.base_url, replicas=[two.base_url], model="x",
                             max_concurrency=4)

        async def ask_all():
            provider = create_provider(config)
            try:
                requests = [Request(messages=[{"role": "user", "content": f"r{i}"}], timeout_s=10) for i in range(8)]
                answers = await asyncio.gather(*(provider.generate(r) for r in requests))
                return answers, dict(provider._endpoints)
            finally:
                await provider.aclose()

        answers, endpoints = asyncio.run(ask_all())
        assert all(a.text for a in answers)
        assert one.stats()["total"] + two.stats()["total"] == 8 and one.stats()["total"] and two.stats()["total"]
        assert {str(u) for u in endpoints.values()} == {f"{one.base_url}/chat/completions",
                                                         f"{two.base_url}/chat/completions"}


def test_a_sqlite_run_imports_no_postgresql_dialect(tmp_path):
    code = f"""
import sys
import workbench.runner.executor, workbench.runner.writer
from workbench.config import Settings
from workbench.service.workspace import open_workspace
from workbench.store.results import RunUpdate, write_batch
store = open_workspace(Settings.load(data_dir={str(tmp_path)!r},  # SQLite, also when the suite runs on PostgreSQL
                                    database_url={f"sqlite:///{tmp_path / 'workbench.db'}"!r}))
write_batch(store, [RunUpdate(1, [], [("k", "text", 1, 2)], {{}}, counters=False)])
print("sqlalchemy.dialects.postgresql" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr

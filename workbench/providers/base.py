"""The one small async interface every provider implements.

A provider turns a ``Request`` (chat messages + the task's output schema)
into a ``Generation`` (the raw text and token counts) or raises
``ProviderError`` with a kind the runner knows how to handle. Parsing and
validating the answer is the caller's job, so every provider is judged alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from workbench.domain.errors import WorkbenchError
from workbench.domain.models import ModelConfig
from workbench.domain.outputs import INVALID_RESPONSE  # noqa: F401 - also a provider's kind: an answer of the wrong shape

# Error kinds recorded on results (the parse errors live in domain.outputs).
HTTP = "http"  # includes refused and dropped connections
TIMEOUT = "timeout"
CONFIG = "config"  # e.g. the API key's environment variable is not set
UNSUPPORTED = "unsupported"
# An answer cut off: larger than the model's max_response_bytes (unread), or stopped at max_tokens.
TRUNCATED = "truncated"
FINISHED_AT_LENGTH = "length"  # the finish_reason of an answer stopped at max_tokens (OpenAI, llama.cpp)


@dataclass(frozen=True)
class Request:
    messages: list[dict[str, str]]
    schema: dict[str, Any] | None = None
    record: dict[str, Any] = field(default_factory=dict)  # for providers that read fields, not prompts
    timeout_s: float = 120.0


@dataclass(frozen=True)
class Generation:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    structured_output: str = "prompt"  # how the answer was constrained
    finish_reason: str | None = None  # why the model stopped, as its server said ("stop", "length", ...)


class ProviderError(WorkbenchError):
    """A failed call. ``retryable`` says whether trying again may help."""

    status = 502  # the model's server failed us, not the request

    def __init__(self, kind: str, message: str, *, status: int | None = None,
                 retry_after_s: float | None = None, retryable: bool = False, format_rejected: bool = False,
                 raw_text: str | None = None):
        super().__init__(message)
        self.raw_text = raw_text  # what the server said, kept (capped) on the record's error
        self.format_rejected = format_rejected  # the server refused the structured-output form
        self.kind = kind
        self.http_status = status  # what the model's server answered (status stays the 502 we answer)
        self.retry_after_s = retry_after_s
        self.retryable = retryable


class Provider(ABC):
    """One provider. The class attributes are its declarations: what the rest of the app asks
    about it (the registry serves them to the CLI, the API and the page)."""

    name: ClassVar[str]  # as written in a model's `provider`
    label: ClassVar[str] = ""  # shown to users, e.g. in the CLI's help and the page's provider list
    # The ways this provider can constrain answers to the schema, best first.
    structured_modes: ClassVar[tuple[str, ...]] = ("prompt",)
    needs_base_url: ClassVar[bool] = False
    needs_model: ClassVar[bool] = False  # the server's model name must be given
    uses_api_key: ClassVar[bool] = False  # reads the key from the variable named by `api_key_env`
    cacheable: ClassVar[bool] = True  # a later run may reuse its answers to identical requests
    learns_structured_output: ClassVar[bool] = False  # "test connection" remembers the form that worked
    default_model: ClassVar[str | None] = None  # the `model` used when none is given
    # The ModelConfig fields its configuration form shows ("params": temperature and max tokens).
    form_fields: ClassVar[tuple[str, ...]] = ("max_concurrency", "params")

    def __init__(self, config: ModelConfig):
        self.config = config

    @abstractmethod
    async def generate(self, request: Request, mode: str | None = None) -> Generation:
        """One answer. ``mode`` forces a structured-output form (used by "test connection")."""

    async def aclose(self) -> None:  # noqa: B027 - optional: most providers hold nothing
        """Release connections or model memory."""


"""Reading a chat-completion envelope (OpenAI's shape, also llama.cpp's): pure, for any input.

The server's answer is hostile input like any other: whatever its shape, the result is a
``Generation`` or a ``ProviderError`` naming what is wrong, with the raw text kept (capped).
Token counts must be whole numbers a result row can hold, or the record is an error:
a count we can't trust would corrupt the run's figures and cost.
"""

from __future__ import annotations

from typing import Any

import orjson

from dataclasses import replace

from workbench.domain.outputs import ParsedOutput, keep_raw
from workbench.providers.base import FINISHED_AT_LENGTH, HTTP, INVALID_RESPONSE, TRUNCATED, Generation, ProviderError

MAX_TOKEN_COUNT = 2**31 - 1  # what a result's INTEGER column holds on every store
TOKEN_FIELDS = (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens"))


def read_completion(payload: bytes, *, structured_output: str = "prompt", latency_s: float = 0.0) -> Generation:
    """The answer in an HTTP 200 body, or ProviderError: HTTP (retryable) when the body is not JSON
    at all (a proxy's page, a cut connection), ``invalid_response`` when it is JSON of the wrong shape."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise ProviderError(HTTP, f"malformed response body: {bytes(payload[:120])!r}", retryable=True,
                            raw_text=keep_raw(bytes(payload).decode("utf-8", "replace"))) from None
    return completion_from_data(data, structured_output=structured_output, latency_s=latency_s,
                                raw=lambda: bytes(payload).decode("utf-8", "replace"))


def completion_from_data(data: Any, *, structured_output: str = "prompt", latency_s: float = 0.0,
                         raw=None) -> Generation:
    """The answer in a decoded envelope, or ProviderError(invalid_response)."""
    def bad(problem: str) -> ProviderError:
        text = raw() if raw is not None else _dump(data)
        return ProviderError(INVALID_RESPONSE, f"invalid response: {problem}", raw_text=keep_raw(text))

    if not isinstance(data, dict):
        raise bad(f"the body is {_kind(data)}, not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            raise bad(f"the server reported an error: {' '.join(error['message'].split())[:300]}")
        raise bad("'choices' is missing or empty" if not choices else f"'choices' is {_kind(choices)}, not a list")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise bad("choices[0].message is missing or not an object")
    content = message.get("content")
    if content is None:
        content = ""  # e.g. a refusal or a tool call: no answer to read, judged as such by the caller
    elif not isinstance(content, str):
        raise bad(f"message.content is {_kind(content)}, not text")
    usage = data.get("usage")
    if usage is None:
        usage = {}  # servers that don't count tokens
    elif not isinstance(usage, dict):
        raise bad(f"'usage' is {_kind(usage)}, not an object")
    counts = {}
    for name, field in TOKEN_FIELDS:
        value = usage.get(name, 0)
        if type(value) is not int or not 0 <= value <= MAX_TOKEN_COUNT:
            raise bad(f"usage.{name} is {_shown(value)}, not a token count")
        counts[field] = value
    finish = choice.get("finish_reason")
    finish_reason = keep_raw(finish, cap=64) if isinstance(finish, str) else None  # any other shape: unknown
    return Generation(text=content, latency_s=latency_s, structured_output=structured_output,
                      finish_reason=finish_reason, **counts)


def judged_finish(parsed: ParsedOutput, finish_reason: str | None, max_tokens: int) -> ParsedOutput:
    """An answer that stopped at max_tokens and can't be read is ``truncated``, not a parse error: the
    cure is more tokens, not another prompt. One that still parses and validates stays ok."""
    if parsed.ok or finish_reason != FINISHED_AT_LENGTH:
        return parsed
    return replace(parsed, error_kind=TRUNCATED,
                   error_message=f"the answer was cut off at max_tokens ({max_tokens} tokens); "
                                 "raise Max tokens in the Models dialog")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return _kind(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _dump(data: Any) -> str:
    try:
        return orjson.dumps(data).decode()
    except (TypeError, ValueError):
        return repr(data)[:100_000]

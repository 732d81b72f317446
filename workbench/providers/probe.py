""""Test connection": one sample record through each structured-output form.

Reports latency, the answer, and the strongest form that gives a valid
answer, so a model's ``structured_output`` can be set from what the server
really does rather than what it claims.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.domain.models import ModelConfig
from workbench.domain.outputs import keep_raw, parse_output_off_loop
from workbench.domain.tasks import Task
from workbench.providers.base import TRUNCATED, Provider, ProviderError, Request
from workbench.providers.completion import judged_finish
from workbench.providers.registry import create_provider


@dataclass
class Attempt:
    mode: str
    ok: bool
    problem: str | None = None
    latency_ms: float | None = None


@dataclass
class ProbeResult:
    ok: bool
    structured_output: str | None = None
    latency_ms: float | None = None
    output: dict[str, Any] | None = None
    raw_text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def test_connection(config: ModelConfig, task: Task, record: dict[str, Any],
                          timeout_s: float = 60) -> ProbeResult:
    """Never raises: whatever the server answers (or the record, or the task), it is reported."""
    result = ProbeResult(ok=False)
    try:
        provider = create_provider(config)
    except Exception as exc:  # noqa: BLE001
        result.error = f"can't use this model: {exc}"
        return result
    try:
        await _probe(provider, config, task, record, timeout_s, result)
    except Exception as exc:  # noqa: BLE001 - a bug or a hostile answer: a report, never a 500
        result.ok = False
        result.error = f"the test failed: {type(exc).__name__}: {exc}"[:500]
    finally:
        try:
            await provider.aclose()
        except Exception:  # noqa: BLE001
            pass
    return result


async def _probe(provider: Provider, config: ModelConfig, task: Task, record: dict[str, Any], timeout_s: float,
                 result: ProbeResult) -> None:
    request = Request(messages=task.render(record), schema=task.output_schema, record=record, timeout_s=timeout_s)
    modes = provider.structured_modes
    if config.structured_output != "auto" and config.structured_output in modes:
        modes = (config.structured_output,)
    for mode in modes:
        try:
            gen = await provider.generate(request, mode=mode)
        except ProviderError as exc:
            result.attempts.append(Attempt(mode, False, str(exc)))
            if exc.raw_text:
                result.raw_text = keep_raw(exc.raw_text)
            if exc.format_rejected:
                continue  # this form is not supported; try the next
            result.error = str(exc)
            return
        parsed = judged_finish(await parse_output_off_loop(gen.text, task), gen.finish_reason,
                               config.params.max_tokens)
        latency_ms = round(gen.latency_s * 1000, 1)
        result.attempts.append(Attempt(mode, parsed.ok, parsed.error_message, latency_ms))
        result.raw_text, result.latency_ms = keep_raw(gen.text), latency_ms
        result.input_tokens, result.output_tokens = gen.input_tokens, gen.output_tokens
        result.finish_reason = gen.finish_reason
        if parsed.ok:
            result.ok, result.structured_output, result.output = True, mode, parsed.value
            return
        if parsed.error_kind == TRUNCATED:  # another form won't give it more tokens
            result.error = parsed.error_message
            return
    result.error = "no structured-output form gave a valid answer: " + "; ".join(
        f"{a.mode}: {a.problem}" for a in result.attempts
    )

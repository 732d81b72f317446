"""A provider from one file, found through WORKBENCH_PROVIDERS=tests.plugin_provider_echo.

It answers any task without a model: each schema field gets its enum's first value, or a word.
tests/test_provider_plugin.py shows it reaching the CLI, the API, a run and the page.
"""

from __future__ import annotations

from typing import Any

import orjson

from workbench.providers.base import Generation, Provider, Request


def _value(spec: dict[str, Any]) -> Any:
    if spec.get("enum"):
        return spec["enum"][0]
    return {"integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(spec.get("type"), "echo")


class EchoProvider(Provider):
    name = "echo"
    label = "echo (test plugin)"
    needs_model = True
    default_model = "echo-1"
    form_fields = ("model", "max_concurrency")

    async def generate(self, request: Request, mode: str | None = None) -> Generation:
        properties = (request.schema or {}).get("properties", {})
        answer = {key: _value(spec) for key, spec in properties.items()}
        return Generation(text=orjson.dumps(answer).decode(), input_tokens=1, output_tokens=1)

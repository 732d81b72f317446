"""Model configurations check themselves: every JSON-shaped input is a model or one ModelConfigError line.

The rules were pydantic's until the run path stopped importing it; the reference below is that
pydantic model, so the two are compared on every input: what the model accepts, pydantic accepted
with the same values; on JSON's own types (no numbers as text, no booleans as numbers) they agree.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Annotated, Any, Literal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from workbench.domain.models import DEFAULT_MAX_RESPONSE_BYTES, ModelConfig, ModelConfigError, ModelParams, build_model


# JSON's 4.0 is the whole number 4, as pydantic's lax mode took it
Whole = Annotated[int, BeforeValidator(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v)]


class _RefParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: Whole = Field(512, ge=1, le=32768)
    seed: Whole | None = Field(0, ge=-(2**63), le=2**63 - 1)
    top_p: float | None = Field(None, gt=0, le=1)


class _RefModel(BaseModel):
    """The pydantic model ModelConfig was, strict (JSON's types), with int64 seeds and finite prices."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), strict=True)
    id: str
    name: str = ""
    provider: str = Field(min_length=1, max_length=64)
    base_url: str | None = None
    replicas: list[str] = Field(default_factory=list)
    model: str | None = None
    api_key_env: str | None = None
    params: _RefParams = Field(default_factory=_RefParams)
    max_concurrency: Whole = Field(4, ge=1, le=1024)
    requests_per_minute: Whole | None = Field(None, ge=1)
    tokens_per_minute: Whole | None = Field(None, ge=1)
    price_in: float = Field(0.0, ge=0, allow_inf_nan=False)
    price_out: float = Field(0.0, ge=0, allow_inf_nan=False)
    structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    max_response_bytes: Whole = Field(DEFAULT_MAX_RESPONSE_BYTES, ge=1024, le=1024**3)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", v):
            raise ValueError("bad id")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        if v and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError("bad env")
        return v or None

    @field_validator("base_url")
    @classmethod
    def _base(cls, v: str | None) -> str | None:
        return _ref_url(v) if v else None

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, v: list[str]) -> list[str]:
        return [_ref_url(u) for u in v]


def _ref_url(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError("bad url")
    return v.rstrip("/")


def _reference(data: Any) -> dict | None:
    try:
        made = _RefModel.model_validate(data).model_dump()
    except (ValidationError, TypeError):
        return None
    return made | {"name": made["name"] or made["id"]}


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 2000), st.integers(), st.floats(allow_nan=True),
                   st.sampled_from(["", "x", "http://h/", "https://h", "ftp://h", "OPENAI_KEY", "sk-123", "auto",
                                    "json_object", "m.1", "-x", "a" * 65, "4"]),
                   st.text(max_size=6))
VALUE = st.one_of(SCALAR, st.lists(SCALAR, max_size=3),
                  st.dictionaries(st.sampled_from(["temperature", "max_tokens", "seed", "top_p", "x"]), SCALAR,
                                  max_size=4))
URL = st.sampled_from(["http://h/", "https://h:1/v1", "http://[::1]:8000"])
VALID = {  # in range
    "id": st.sampled_from(["m", "gemma-3.4b", "A_1"]), "name": st.text(max_size=5),
    "provider": st.sampled_from(["openai", "baseline"]), "base_url": st.one_of(st.none(), URL),
    "replicas": st.lists(URL, max_size=2), "model": st.one_of(st.none(), st.text(max_size=5)),
    "api_key_env": st.sampled_from([None, "", "OPENAI_KEY", "_K1"]),
    "params": st.fixed_dictionaries({}, optional={
        "temperature": st.floats(0, 2), "max_tokens": st.integers(1, 32768),
        "seed": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        "top_p": st.one_of(st.none(), st.floats(0, 1, exclude_min=True))}),
    "max_concurrency": st.integers(1, 1024), "requests_per_minute": st.one_of(st.none(), st.integers(1, 10**6)),
    "tokens_per_minute": st.one_of(st.none(), st.integers(1, 10**9)), "price_in": st.floats(0, 1e6),
    "price_out": st.floats(0, 1e6), "structured_output": st.sampled_from(["auto", "prompt", "json_object"]),
    "max_response_bytes": st.integers(1024, 1024**3),
}
EDGE = {  # just out of range, or the wrong shape of the right type
    "id": st.sampled_from(["", "a b", "-m", "m\n", "a" * 65]), "provider": st.sampled_from(["", "p" * 65]),
    "base_url": st.sampled_from(["h:1", "ftp://h", ""]), "replicas": st.lists(st.sampled_from(["", "h"]), min_size=1),
    "api_key_env": st.sampled_from(["1K", "sk-live", "A B"]),
    "params": st.fixed_dictionaries({}, optional={
        "temperature": st.floats(2, 3, exclude_min=True), "max_tokens": st.sampled_from([0, 32769, 2.5]),
        "seed": st.sampled_from([2**63, 1.5]), "top_p": st.sampled_from([0, 0.0, 1.01]), "x": st.none()}),
    "max_concurrency": st.sampled_from([0, 1025, 4.5]), "requests_per_minute": st.sampled_from([0, -1]),
    "price_in": st.sampled_from([-0.01, float("inf")]), "structured_output": st.sampled_from(["AUTO", ""]),
    "max_response_bytes": st.sampled_from([1023, 1024**3 + 1]),
}


def _field(name: str):
    kinds = [VALID.get(name, VALUE), EDGE.get(name, VALUE), VALUE]
    return st.sampled_from([0] * 8 + [1, 2]).flatmap(lambda kind: kinds[kind])


# Mostly values in range, sometimes just outside, sometimes anything at all.
BODY = st.fixed_dictionaries({k: _field(k) for k in ("id", "provider")},
                             optional={k: _field(k) for k in {**VALID, **EDGE} if k not in ("id", "provider")})


def _ours(data: Any) -> dict | None:
    try:
        return build_model(data).to_dict()
    except ModelConfigError as exc:
        assert str(exc) and "\n" not in str(exc) and "Traceback" not in str(exc)
        return None


@settings(max_examples=1500)
@given(st.one_of(BODY, VALUE))
def test_a_model_is_made_exactly_when_the_strict_pydantic_rules_make_one(data):
    assert _ours(data) == _reference(data)


@settings(max_examples=300)
@given(BODY)
def test_a_model_survives_the_store_snapshot_and_a_change(data):
    made = _ours(data)
    if made is None:
        return
    model = build_model(data)
    assert ModelConfig.from_dict(orjson.loads(orjson.dumps(model.to_dict()))) == model
    assert model.with_changes(max_concurrency=7).max_concurrency == 7
    assert model.with_changes() == model


def test_errors_name_the_model_and_the_field():
    cases = [({"id": "m"}, "model 'm': provider: is required"),
             ({"id": "m", "provider": "openai", "max_concurrency": 0}, "model 'm': max_concurrency: must be at least 1"),
             ({"id": "m", "provider": "openai", "params": {"max_tokens": 1.5}},
              "model 'm': params.max_tokens: must be a whole number"),
             ({"id": "m", "provider": "openai", "params": {"temp": 1}}, "model 'm': params.temp: is not a known field"),
             ({"id": "m", "provider": "openai", "base_url": "localhost:8000"},
              "model 'm': base_url: must start with http:// or https://"),
             ({"id": "m", "provider": "openai", "api_key_env": "sk-live-123"}, "api_key_env: must be the NAME"),
             ({"id": "m\n", "provider": "openai"}, "id: must be 1-64 letters"),
             ({"id": "m", "provider": "openai", "zz": 1}, "model 'm': zz: is not a known field"),
             ([], "a model must be an object")]
    for data, words in cases:
        with pytest.raises(ModelConfigError) as info:
            build_model(data)
        assert words in str(info.value)


def test_json_numbers_and_defaults():
    m = build_model({"id": "m", "provider": "openai", "base_url": "http://h:1/v1/", "max_concurrency": 8.0,
                     "params": {"temperature": 1}})
    assert m.max_concurrency == 8 and type(m.max_concurrency) is int and m.params.temperature == 1.0
    assert m.base_url == "http://h:1/v1" and m.name == "m" and m.params.sampling() == {
        "temperature": 1.0, "max_tokens": 512, "seed": 0}
    assert ModelParams().to_dict() == {"temperature": 0.0, "max_tokens": 512, "seed": 0, "top_p": None}


def test_a_run_reads_its_model_without_importing_pydantic():
    code = ("import sys\n"
            "import workbench.service.runs\n"
            "from workbench.domain.models import build_model\n"
            "build_model({'id': 'm', 'provider': 'openai'})\n"
            "assert 'pydantic' not in sys.modules, 'pydantic imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_error_line_stays_short_whatever_the_body_holds():
    for data in ({"id": "m" * 10**6, "provider": "openai"}, {"id": "m", "provider": "openai", "k" * 10**6: 1},
                 {"id": "m", "provider": "openai", "params": {"p" * 10**6: 1}}):
        with pytest.raises(ModelConfigError) as info:
            build_model(data)
        assert len(str(info.value)) < 300

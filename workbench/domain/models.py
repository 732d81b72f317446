"""Model configurations: an endpoint and how to call it, never code and never a key.

The API key itself stays in the environment; a model only names the
variable that holds it (``api_key_env``). What a provider needs (a base URL, a
model name) is its own declaration, checked by ``providers.registry.check_model``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

from workbench.domain.errors import InvalidInput

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # far beyond any real answer; bounds memory per request
_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
StructuredOutput = Literal["auto", "json_schema", "json_object", "prompt"]
STRUCTURED_OUTPUTS: tuple[str, ...] = get_args(StructuredOutput)

# Plain dataclasses that check themselves, like Task: a run reads its model from the store before
# its first request, and pydantic costs ~60 ms to import and build (bench/floor_bench.py).


class ModelConfigError(InvalidInput):
    pass


def _fail(where: str, message: str):
    raise ModelConfigError(f"{where}: {message}")


def _integer(where: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON's 4.0
    if type(value) is not int:
        _fail(where, "must be a whole number")
    _within(where, value, low, high)
    return value


def _number(where: str, value: Any, low: float, high: float | None = None, *, above: bool = False) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        _fail(where, "must be a number")
    if above and value <= low:
        _fail(where, f"must be more than {low:g}")
    _within(where, value, low, high)
    return float(value)


def _within(where: str, value: float, low: float, high: float | None) -> None:
    if value < low:
        _fail(where, f"must be at least {low:g}")
    if high is not None and value > high:
        _fail(where, f"must be at most {high:g}")


def _text(where: str, value: Any, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        _fail(where, "must be text")
    return str(value)


def _known_keys(where: str, data: Any, cls: type) -> dict[str, Any]:
    if not isinstance(data, dict):
        _fail(where, "must be an object")
    known = {f.name for f in fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        key = str(unknown[0])[:64]  # a hostile body's key may be megabytes long
        _fail(f"{where}.{key}" if where else key, "is not a known field")
    return data


@dataclass
class ModelParams:
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    top_p: float | None = None

    def __post_init__(self) -> None:
        self.temperature = _number("params.temperature", self.temperature, 0, 2)
        self.max_tokens = _integer("params.max_tokens", self.max_tokens, 1, 32768)
        if self.seed is not None:
            self.seed = _integer("params.seed", self.seed, -(2**63), 2**63 - 1)
        if self.top_p is not None:
            self.top_p = _number("params.top_p", self.top_p, 0, 1, above=True)

    @classmethod
    def from_dict(cls, data: Any) -> "ModelParams":
        return cls(**_known_keys("params", data, cls))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sampling(self) -> dict[str, Any]:
        """The parameters as chat-completion arguments (unset ones left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(kw_only=True)
class ModelConfig:
    id: str
    name: str = ""
    provider: str  # a provider's name (GET /api/providers)
    base_url: str | None = None
    replicas: list[str] = field(default_factory=list)  # further base URLs serving the same model
    model: str | None = None  # the server's model name, or a GGUF path for `local`
    api_key_env: str | None = None
    params: ModelParams = field(default_factory=ModelParams)
    max_concurrency: int = 4
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    price_in: float = 0.0  # per 1M input tokens
    price_out: float = 0.0  # per 1M output tokens
    structured_output: StructuredOutput = "auto"
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES  # a bigger answer is an error for its record, unread

    def __post_init__(self) -> None:
        model_id = self.id
        try:
            self._check()
        except ModelConfigError as exc:
            raise ModelConfigError(f"{_prefix(model_id)}{exc}") from None

    def _check(self) -> None:
        self.id = _text("id", self.id)
        if not _ID.fullmatch(self.id):
            _fail("id", "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        self.provider = _text("provider", self.provider)
        if not 1 <= len(self.provider) <= 64:
            _fail("provider", "must be 1-64 characters")
        self.name = _text("name", self.name) or self.id
        base_url = _text("base_url", self.base_url, optional=True)
        self.base_url = _url("base_url", base_url) if base_url else None
        if not isinstance(self.replicas, (list, tuple)):
            _fail("replicas", "must be a list of base URLs")
        self.replicas = [_url(f"replicas.{i}", _text(f"replicas.{i}", u)) for i, u in enumerate(self.replicas)]
        self.model = _text("model", self.model, optional=True)
        self.api_key_env = _text("api_key_env", self.api_key_env, optional=True) or None
        if self.api_key_env and not _ENV_VAR.fullmatch(self.api_key_env):
            _fail("api_key_env", "must be the NAME of an environment variable (e.g. OPENAI_API_KEY), "
                                 "not the key itself")
        if not isinstance(self.params, ModelParams):
            self.params = ModelParams.from_dict(self.params)
        self.max_concurrency = _integer("max_concurrency", self.max_concurrency, 1, 1024)
        for name in ("requests_per_minute", "tokens_per_minute"):
            if getattr(self, name) is not None:
                setattr(self, name, _integer(name, getattr(self, name), 1))
        self.price_in = _number("price_in", self.price_in, 0)
        self.price_out = _number("price_out", self.price_out, 0)
        if self.structured_output not in STRUCTURED_OUTPUTS:
            _fail("structured_output", f"must be one of {', '.join(STRUCTURED_OUTPUTS)}")
        self.max_response_bytes = _integer("max_response_bytes", self.max_response_bytes, 1024, 1024**3)

    @classmethod
    def from_dict(cls, data: Any) -> "ModelConfig":
        """A model from a JSON-shaped mapping (user input, or the store's own snapshot)."""
        if not isinstance(data, dict):
            raise ModelConfigError("a model must be an object (id, provider, ...)")
        try:
            _known_keys("", data, cls)
            missing = [k for k in ("id", "provider") if k not in data]
            if missing:
                _fail(missing[0], "is required")
        except ModelConfigError as exc:
            raise ModelConfigError(f"{_prefix(data.get('id'))}{exc}") from None
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_changes(self, **changes: Any) -> "ModelConfig":
        """A copy with these fields changed (checked again)."""
        return replace(self, **changes)

    @property
    def base_urls(self) -> list[str]:
        """Every endpoint serving this model: the base URL, then its replicas."""
        return [u for u in [self.base_url, *self.replicas] if u]

    @property
    def price_per_token(self) -> tuple[float, float]:
        return self.price_in / 1e6, self.price_out / 1e6


def _prefix(model_id: Any) -> str:
    return f"model {model_id[:64]!r}: " if isinstance(model_id, str) and model_id else ""  # ids are <= 64


def _url(where: str, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        _fail(where, "must start with http:// or https://")
    return value.rstrip("/")


def build_model(data: dict[str, Any]) -> ModelConfig:
    """Validate user input into a ModelConfig, with one readable error line (its shape only: the
    provider's needs are checked by ``service.models.build_model``)."""
    return ModelConfig.from_dict(data)


def load_models_yaml(path: Path) -> list[ModelConfig]:
    """``models.yaml``: either a list of models or ``{models: [...]}``."""
    import yaml  # here: most commands never read YAML (~8 ms to import)

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ModelConfigError(f"{path}: can't read ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict):
        data = data.get("models")
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        raise ModelConfigError(f"{path}: expected a list of models (or a 'models:' key holding one)")
    return [build_model(m) for m in data]

"""Model configurations: an endpoint and how to call it, never code and never a key.

The API key itself stays in the environment; a model only names the
variable that holds it (``api_key_env``). What a provider needs (a base URL, a
model name) is its own declaration, checked by ``providers.registry.check_model``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from workbench.domain.errors import InvalidInput

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # far beyond any real answer; bounds memory per request
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ModelConfigError(InvalidInput):
    pass


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=1, le=32768)
    seed: int | None = 0
    top_p: float | None = Field(None, gt=0, le=1)

    def sampling(self) -> dict[str, Any]:
        """The parameters as chat-completion arguments (unset ones left out)."""
        return self.model_dump(exclude_none=True)


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    id: str
    name: str = ""
    provider: str = Field(min_length=1, max_length=64, description="a provider's name (GET /api/providers)")
    base_url: str | None = None
    replicas: list[str] = Field(default_factory=list, description="further base URLs serving the same model")
    model: str | None = None  # the server's model name, or a GGUF path for `local`
    api_key_env: str | None = None
    params: ModelParams = Field(default_factory=ModelParams)
    max_concurrency: int = Field(4, ge=1, le=1024)
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    price_in: float = Field(0.0, ge=0, description="price per 1M input tokens")
    price_out: float = Field(0.0, ge=0, description="price per 1M output tokens")
    structured_output: Literal["auto", "json_schema", "json_object", "prompt"] = "auto"
    max_response_bytes: int = Field(DEFAULT_MAX_RESPONSE_BYTES, ge=1024, le=1024**3,
                                    description="a bigger answer from the server is an error for its record, unread")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _check_env_name(cls, value: str | None) -> str | None:
        if value and not _ENV_VAR.match(value):
            raise ValueError("must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key itself")
        return value or None

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _url(value) if value else None

    @field_validator("replicas")
    @classmethod
    def _check_replicas(cls, value: list[str]) -> list[str]:
        return [_url(v) for v in value]

    @model_validator(mode="after")
    def _default_name(self) -> "ModelConfig":
        if not self.name:
            self.name = self.id
        return self

    @property
    def base_urls(self) -> list[str]:
        """Every endpoint serving this model: the base URL, then its replicas."""
        return [u for u in [self.base_url, *self.replicas] if u]

    @property
    def price_per_token(self) -> tuple[float, float]:
        return self.price_in / 1e6, self.price_out / 1e6


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


def build_model(data: dict[str, Any]) -> ModelConfig:
    """Validate user input into a ModelConfig, with one readable error line (its shape only: the
    provider's needs are checked by ``service.models.build_model``)."""
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        raise ModelConfigError(_first_error(exc, data.get("id"))) from None


def _first_error(exc: ValidationError, model_id: Any) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "model"
    message = err["msg"].removeprefix("Value error, ")
    prefix = f"model {model_id!r}: " if model_id else ""
    return f"{prefix}{where}: {message}"


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

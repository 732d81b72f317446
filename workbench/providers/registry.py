"""Which providers exist, found rather than listed, and what each declares about itself.

A provider is a concrete ``Provider`` subclass with a ``name``, defined in a module of this
package, in a module named by an entry point of the group ``workbench.providers`` (another
installed package), or in a module named in ``WORKBENCH_PROVIDERS`` (comma-separated, e.g. one
file a test or a user adds). Adding a provider is that one module: the CLI's choices, model
validation, ``GET /api/providers`` and the page's Models dialog all read the declarations here.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from workbench.domain.models import ModelConfig, ModelConfigError
from workbench.providers.base import Provider

ENTRY_POINT_GROUP = "workbench.providers"
ENV_VAR = "WORKBENCH_PROVIDERS"

_registry: dict[str, type[Provider]] = {}
_loaded_modules: set[str] = set()  # modules already searched for providers
_INSTALLED = "(this package and entry points)"  # the key in _loaded_modules once those are searched


def register(cls: type[Provider]) -> type[Provider]:
    """Add a provider class (discovery calls this; a plugin may too)."""
    _registry[cls.name] = cls
    return cls


def provider_names() -> list[str]:
    _discover()
    return sorted(_registry)


def provider_class(name: str) -> type[Provider]:
    _discover()
    try:
        return _registry[name]
    except KeyError:
        raise ModelConfigError(f"unknown provider {name!r}; known: {', '.join(sorted(_registry))}") from None


def create_provider(config: ModelConfig) -> Provider:
    return provider_class(config.provider)(config)


def load_providers() -> None:
    """Import every provider module now (e.g. before a run's event loop starts)."""
    _discover()


def check_model(config: ModelConfig) -> ModelConfig:
    """``config`` against what its provider declares it needs; errors read like ``build_model``'s."""
    prefix = f"model {config.id!r}: "
    try:
        cls = provider_class(config.provider)
    except ModelConfigError as exc:
        raise ModelConfigError(f"{prefix}provider: {exc}") from None
    if cls.needs_base_url and not config.base_url:
        raise ModelConfigError(f"{prefix}model: the {cls.name} provider needs a base URL "
                               "(e.g. http://127.0.0.1:8000/v1)")
    if cls.needs_model and not config.model:
        raise ModelConfigError(f"{prefix}model: the {cls.name} provider needs the server's model name")
    return config


def describe_providers() -> list[dict[str, Any]]:
    """Every provider's declarations, as JSON for the API and the page."""
    return [describe(provider_class(name)) for name in provider_names()]


def describe(cls: type[Provider]) -> dict[str, Any]:
    return {
        "name": cls.name, "label": cls.label, "needs_base_url": cls.needs_base_url, "needs_model": cls.needs_model,
        "uses_api_key": cls.uses_api_key, "cacheable": cls.cacheable,
        "learns_structured_output": cls.learns_structured_output, "default_model": cls.default_model,
        "form_fields": list(cls.form_fields), "structured_modes": list(cls.structured_modes),
    }


def _discover() -> None:
    if _INSTALLED not in _loaded_modules:
        package = importlib.import_module("workbench.providers")
        for info in pkgutil.iter_modules(package.__path__, prefix="workbench.providers."):
            _search(info.name)
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            found = entry.load()
            if inspect.isclass(found) and issubclass(found, Provider):
                register(found)
            elif isinstance(found, ModuleType):
                _search_module(found)
        _loaded_modules.add(_INSTALLED)
    # Read each time: a test or a process may name a module after the first look.
    for name in filter(None, (n.strip() for n in os.environ.get(ENV_VAR, "").split(","))):
        if name not in _loaded_modules:
            _search(name)


def _search(module_name: str) -> None:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelConfigError(f"can't load the provider module {module_name!r}: {exc}") from None
    _search_module(module)


def _search_module(module: ModuleType) -> None:
    _loaded_modules.add(module.__name__)
    for value in vars(module).values():
        if (inspect.isclass(value) and issubclass(value, Provider) and value.__module__ == module.__name__
                and not inspect.isabstract(value) and "name" in vars(value)):
            register(value)

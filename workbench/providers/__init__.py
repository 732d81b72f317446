"""Providers: one small async interface (base.py), the registry that finds them (registry.py), one module
per provider."""

from workbench.providers.base import Generation, Provider, ProviderError, Request
from workbench.providers.registry import create_provider, provider_class

__all__ = ["Generation", "Provider", "ProviderError", "Request", "create_provider", "provider_class"]

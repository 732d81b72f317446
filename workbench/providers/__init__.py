"""Providers: one small async interface (base.py), one module per provider."""

from workbench.providers.base import Generation, Provider, ProviderError, Request, create_provider

__all__ = ["Generation", "Provider", "ProviderError", "Request", "create_provider"]

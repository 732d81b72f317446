"""A list of model ids as a person types it: the CLI's ``--models`` and the API's ``models=``."""

from __future__ import annotations

from workbench.domain.errors import InvalidInput

MAX_MODELS = 32  # columns compared at once: each is a join, and the page shows a handful


class TooManyModels(InvalidInput):
    pass


def parse_model_ids(text: str | None) -> list[str] | None:
    """ "a,b" or "a, b" -> ["a", "b"]; None (every model) when empty; at most MAX_MODELS."""
    models = [m.strip() for m in (text or "").split(",") if m.strip()]
    if len(models) > MAX_MODELS:
        raise TooManyModels(f"models lists {len(models)} entries; compare at most {MAX_MODELS} at once")
    return models or None

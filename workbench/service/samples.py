"""The bundled sample candidates: the demo dataset, and the record "test connection" sends by default."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import orjson

SAMPLE_FILE = "sample_candidates.jsonl"


def sample_path() -> Path:
    return Path(str(resources.files("workbench") / "data" / SAMPLE_FILE))


def sample_record() -> dict:
    """The first bundled sample candidate, sent by "test connection"."""
    with open(sample_path(), "rb") as f:
        return orjson.loads(f.readline())

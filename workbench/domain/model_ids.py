"""Column ids as a person types them: the CLI's ``--models`` / ``--runs`` and the API's ``models=``.

A column is a run. ``gemma`` names the latest run of model ``gemma`` on the dataset (the seed's
meaning); ``run:42`` names run 42 itself, so two runs of one model can sit side by side.
"""

from __future__ import annotations

import re

from workbench.domain.errors import InvalidInput
from workbench.domain.json_rules import INT64_MAX

MAX_MODELS = 32  # columns compared at once: each is a join, and the page shows a handful
RUN_PREFIX = "run:"
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # domain/models.py's rule for a model id
_RUN_NUMBER = re.compile(r"[0-9]{1,19}")  # ASCII digits only


class TooManyModels(InvalidInput):
    pass


class BadColumnId(InvalidInput):
    """Neither a model id nor ``run:ID``."""


def run_column(run_id: int) -> str:
    """The column id of one run."""
    return f"{RUN_PREFIX}{run_id}"


def positive_id(text: str) -> int | None:
    """``text`` as an id a person typed (a run id, a task version): a whole number from 1 to 2**63-1
    in ASCII digits, else None. (``str.isdigit()`` also takes "²", which ``int()`` refuses.)"""
    if _RUN_NUMBER.fullmatch(text) is None or not 0 < int(text) <= INT64_MAX:
        return None
    return int(text)


def run_id_of(column_id: str) -> int | None:
    """The run a ``run:ID`` column names; None for a model id (its latest run); BadColumnId for junk."""
    if column_id.startswith(RUN_PREFIX):
        run_id = positive_id(column_id[len(RUN_PREFIX):])
        if run_id is None:
            raise BadColumnId(f"column {_shown(column_id)}: a run is written run:ID with ID a positive whole number")
        return run_id
    if _MODEL_ID.fullmatch(column_id) is None:
        raise BadColumnId(f"column {_shown(column_id)} is neither a model id nor run:ID")
    return None


def parse_column_ids(text: str | None) -> list[str] | None:
    """ "a, run:7" -> ["a", "run:7"] (each checked, repeats dropped); None when ``text`` is None
    (every model's latest run); [] for "" (no columns); at most MAX_MODELS."""
    if text is None:
        return None
    columns = list(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    if len(columns) > MAX_MODELS:
        raise TooManyModels(f"models lists {len(columns)} entries; compare at most {MAX_MODELS} at once")
    for column in columns:
        run_id_of(column)
    return columns


def parse_model_ids(text: str | None) -> list[str] | None:
    """Like ``parse_column_ids``, but empty means every model (exports, metrics, compare, the CLI)."""
    return parse_column_ids(text) or None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")

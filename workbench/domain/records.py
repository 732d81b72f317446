"""Record identity and display fields.

A record keeps its raw JSON; the id comes from the id field when the file has
one, else from a hash of the content, so re-importing the same file gives the
same ids. Title and subtitle are what a person scans in the grid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

# Fields tried, in order, for a record's title and its subtitle's two parts (role @ company).
TITLE_KEYS = ("name", "full_name", "candidate_name", "title", "question", "prompt", "text")
ROLE_KEYS = ("title", "current_title", "job_title", "position", "role", "headline")
COMPANY_KEYS = ("company", "current_company", "employer", "organization")


@dataclass(frozen=True)
class DisplayFields:
    """Which fields make a record's title line (e.g. "John Smith") and subtitle ("Engineer @ Acme")."""

    title_field: str | None = None
    subtitle_fields: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def infer(cls, sample: dict[str, Any]) -> "DisplayFields":
        keys = set(sample)
        title = next((k for k in TITLE_KEYS if k in keys), None)
        role = next((k for k in ROLE_KEYS if k in keys and k != title), None)
        company = next((k for k in COMPANY_KEYS if k in keys), None)
        return cls(title, tuple(k for k in (role, company) if k))

    def title(self, record: dict[str, Any], record_id: str) -> str:
        value = record.get(self.title_field) if self.title_field else None
        return _short_text(value) or record_id

    def subtitle(self, record: dict[str, Any]) -> str:
        parts = [_short_text(record.get(f)) for f in self.subtitle_fields]
        return " @ ".join(p for p in parts if p)


def _short_text(value: Any, limit: int = 200) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = str(value).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def content_id(record: dict[str, Any]) -> str:
    """A stable id from the record's content (key order does not matter)."""
    canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return "r-" + hashlib.sha1(canonical).hexdigest()[:12]


def normalise_id(value: Any) -> str | None:
    """Ids may be strings or integers in the file; anything else is not an id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None

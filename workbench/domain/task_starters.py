"""Starting points for a new task: common jobs, each a complete task to edit.

Verdicts are string enums (the grid stores and compares verdicts as text; a 1–5 rating is the
strings "1"…"5" and a yes/no field is ["yes", "no"]), so every starter works through the whole
app as it is: differences, counts, metrics and exports. The templates read a ``text`` field (most
files have one) and show the record's other fields when it has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.domain.errors import NotFound
from workbench.domain.tasks import CANDIDATE_SCREENING, Task

_ANSWER = """Answer with a single JSON object and nothing else, matching this JSON Schema:
{{ schema_json }}"""

_TEXT = """{% if text %}{{ text }}{% else %}{{ record | tojson }}{% endif %}"""


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _reason(max_length: int = 300) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length}


@dataclass(frozen=True)
class Starter:
    id: str
    title: str
    task: Task

    def to_dict(self) -> dict[str, Any]:
        definition = self.task.to_dict()
        definition.pop("version")
        return {"id": self.id, "title": self.title, "description": self.task.description, "task": definition}


STARTERS = [
    Starter("classification", "Classification with a reason", Task(
        name="classification",
        description="Put each record in one of a few categories, and say why.",
        primary_verdict="label",
        output_schema=_object({"label": {"type": "string", "enum": ["billing", "technical", "account", "other"]},
                               "reason": _reason()}),
        system="""You sort records into categories.
- label: the one category that fits best: "billing", "technical", "account" or "other".
- reason: one short sentence saying why.
""" + _ANSWER,
        user="Classify this:\n" + _TEXT,
    )),
    Starter("sentiment", "Sentiment", Task(
        name="sentiment",
        description="Is the text positive, neutral, negative or mixed?",
        primary_verdict="sentiment",
        output_schema=_object({"sentiment": {"type": "string", "enum": ["positive", "neutral", "negative", "mixed"]},
                               "reason": _reason()}),
        system="""You judge the sentiment of short texts such as product reviews.
- sentiment: "positive", "neutral", "negative" or "mixed".
- reason: one short sentence quoting what decided it.
""" + _ANSWER,
        user="""{% if product %}Product: {{ product }}
{% endif %}Text: """ + _TEXT,
    )),
    Starter("extraction", "Extraction of named fields", Task(
        name="extraction",
        description="Pull named fields out of free text (empty when absent).",
        primary_verdict="complete",
        output_schema=_object({
            "person": {"type": "string", "maxLength": 200},
            "organization": {"type": "string", "maxLength": 200},
            "date": {"type": "string", "maxLength": 50},
            "amount": {"type": "string", "maxLength": 50},
            "complete": {"type": "string", "enum": ["yes", "no"]},
        }),
        system="""You extract fields from text. Copy values as they appear; use "" for a field the text lacks.
- person, organization, date, amount: as written in the text.
- complete: "yes" when the text gives all four, else "no".
""" + _ANSWER,
        user="Extract the fields from:\n" + _TEXT,
    )),
    Starter("rating", "A 1–5 rating", Task(
        name="rating",
        description="Rate each record from 1 (poor) to 5 (excellent).",
        primary_verdict="rating",
        output_schema=_object({"rating": {"type": "string", "enum": ["1", "2", "3", "4", "5"]},
                               "reason": _reason()}),
        system="""You rate the quality of texts from 1 (poor) to 5 (excellent).
- rating: "1", "2", "3", "4" or "5" (a string).
- reason: one short sentence.
""" + _ANSWER,
        user="Rate this:\n" + _TEXT,
    )),
    Starter("candidate-screening", "Candidate screening", CANDIDATE_SCREENING),
]
_BY_ID = {starter.id: starter for starter in STARTERS}


class StarterNotFound(NotFound):
    pass


def get_starter(starter_id: str) -> Starter:
    try:
        return _BY_ID[starter_id]
    except KeyError:
        raise StarterNotFound(f"no starting point {starter_id!r}; there are: {', '.join(_BY_ID)}") from None

"""A judge: a configured model asked which of two columns' answers is better, in both orders.

A verdict that flips with the order is a tie and is inconsistent. Verdicts are suggestions, kept
apart from people's preferences. Here: the judge's task (rubric, templates, output), what it is
shown about one record, and how the two orders' verdicts combine into one suggestion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from workbench.domain.errors import InvalidInput
from workbench.domain.metrics import kappa_with_interval
from workbench.domain.stats import SMALL, proportion
from workbench.domain.tasks import Task

# A judge task is stored beside the answer tasks under this reserved prefix (task names allow only
# letters, digits, '-' and '_'); service/tasks hides such tasks from the picker and refuses them for runs.
JUDGE_TASK_PREFIX = "_judge-"
ORDERS = ("ab", "ba")
FIRST, SECOND, TIE = "first", "second", "tie"
VERDICTS = [FIRST, SECOND, TIE]
MAX_RUBRIC = 20_000

DEFAULT_RUBRIC = """You are a careful, impartial reviewer. You are shown a record and two answers to the same \
question about it, written by two different assistants. Decide which answer is better: more correct for this \
record, better supported by the record's facts, and more useful to the person who asked.
Ignore which answer comes first, how long each is, and its style; judge only the substance.
If both are equally good or equally bad, say it is a tie."""

ANSWER_FORMAT = """

Reply with a single JSON object and nothing else: "better" is "first" if Answer 1 is better, "second" if \
Answer 2 is better, "tie" if neither is; "reason" is one short sentence. It must match this JSON Schema:
{{ schema_json }}"""

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "better": {"type": "string", "enum": VERDICTS},
        "reason": {"type": "string", "maxLength": 400},
    },
    "required": ["better", "reason"],
    "additionalProperties": False,
}

# The record as "key: value" lines (nested values as JSON), then the two answers in this run's order.
USER_TEMPLATE = """Record:
{% for key, value in item | dictsort %}{{ key }}: {% if value is string %}{{ value }}{% else %}{{ value | tojson }}{% endif %}
{% endfor %}
Answer 1:
{% for key, value in answer_1 | dictsort %}{{ key }}: {% if value is string %}{{ value }}{% else %}{{ value | tojson }}{% endif %}
{% endfor %}
Answer 2:
{% for key, value in answer_2 | dictsort %}{{ key }}: {% if value is string %}{{ value }}{% else %}{{ value | tojson }}{% endif %}
{% endfor %}
Which answer is better?"""  # noqa: E501 - a template: its lines are the prompt's


def is_judge_task(name: str) -> bool:
    return name.startswith(JUDGE_TASK_PREFIX)


def judge_task_name(answer_task: str) -> str:
    return f"{JUDGE_TASK_PREFIX}{answer_task}"


def check_rubric(rubric: str | None) -> str:
    """The rubric to use (the default when none or blank); InvalidInput when too long or with control characters."""
    if rubric is None or not rubric.strip():
        return DEFAULT_RUBRIC
    if not isinstance(rubric, str):
        raise InvalidInput("the rubric must be text")
    if len(rubric) > MAX_RUBRIC:
        raise InvalidInput(f"the rubric is {len(rubric):,} characters; at most {MAX_RUBRIC:,}")
    if any((ord(c) < 32 and c not in "\n\t\r") or 0x7f <= ord(c) < 0xa0 for c in rubric):
        raise InvalidInput("the rubric has control characters; use plain text")
    return rubric.strip()


def judge_task(answer_task: str, rubric: str | None = None) -> Task:
    """The judge task for an answer task: its system prompt is the rubric (as literal text, whatever
    braces it holds), then how to answer."""
    literal = check_rubric(rubric).replace("{", "{{ '{' }}")
    return Task(name=judge_task_name(answer_task), system=literal + ANSWER_FORMAT, user=USER_TEMPLATE,
                output_schema=OUTPUT_SCHEMA, primary_verdict="better",
                description=f"A judge of two answers to the task {answer_task!r}: which is better.")


def judge_input(record: dict[str, Any], first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """What a judge run renders for one record: the record and the two answers in this run's order."""
    return {"item": record, "answer_1": first, "answer_2": second}


def combine(ab: str | None, ba: str | None) -> tuple[str | None, bool | None]:
    """Both orders' verdicts ("first" / "second" / "tie"; None: missing or an error) → (winner, consistent):
    winner "a", "b", "tie" or None (not judged in both orders). A flip is a tie, inconsistent."""
    if ab not in VERDICTS or ba not in VERDICTS:
        return None, None
    if ab == FIRST and ba == SECOND:
        return "a", True
    if ab == SECOND and ba == FIRST:
        return "b", True
    if ab == TIE and ba == TIE:
        return "tie", True
    return "tie", False


@dataclass(frozen=True)
class Suggestion:
    """The judge's word on one record for one pair of columns."""

    columns: tuple[str, str]  # the two column ids judged (as the caller named them)
    preferred: str | None  # one of ``columns``, "tie", or None (not judged in both orders yet, or an error)
    consistent: bool | None  # both orders agree; False: it flipped with the order (then preferred is "tie")
    judge_model: str  # the judge's model id
    judge_run: int  # the judge's id (its first run)
    reason: str | None = None  # the judge's reason, in the first order

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "preferred": self.preferred, "consistent": self.consistent,
                "judge_model": self.judge_model, "judge_run": self.judge_run, "reason": self.reason}


def people_label(preference: str | None, run_a: str, run_b: str) -> str | None:
    """A person's preference as the judge's labels: "a", "b", "tie"; None when it names neither
    column (another run, all bad, none)."""
    return {run_a: "a", run_b: "b", TIE: "tie"}.get(preference or "")


def agreement_with_people(pairs: list[tuple[str, str]], consistent: int, judged: int) -> dict[str, Any]:
    """The judge against people on the records both gave a label ("a" / "b" / "tie"): percent
    agreement (Wilson interval) and Cohen's kappa (seeded bootstrap interval), n; and the position
    consistency rate over every record judged in both orders."""
    joint: Counter[tuple[Hashable, Hashable]] = Counter(pairs)
    n = len(pairs)
    agree = sum(count for (judge, person), count in joint.items() if judge == person)
    return {
        "n": n, "small": n < SMALL,
        "percent": proportion(agree, n),
        **kappa_with_interval(joint, n),
        "consistency": proportion(consistent, judged),
        "joint": [{"judge": judge, "people": person, "count": count}
                  for (judge, person), count in sorted(joint.items())],
    }

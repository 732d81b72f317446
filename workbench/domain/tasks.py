"""Tasks: what the models are asked, and what a valid answer looks like.

A task is a prompt template (system + user, Jinja2 over the record's fields,
rendered in a sandbox) and an output JSON Schema. Enum properties of the
schema are *verdict fields*, the ones models can agree or disagree on.
The system prompt is the same for every record and comes first, so servers
with a prefix cache (vLLM, SGLang, llama.cpp) reuse it across requests.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import jinja2
import orjson
from workbench.domain.errors import InvalidInput
from workbench.domain.flat_schema import compile_fast_check, surely_valid_schema
from workbench.domain.names import DEFAULT_TASK
from workbench.domain.template_budget import BudgetedEnvironment, render_within_budget


class TaskError(InvalidInput):
    """A task definition is invalid, or a template failed on a record."""


_ENV = BudgetedEnvironment(
    autoescape=False, undefined=jinja2.ChainableUndefined, keep_trailing_newline=False
)
_ENV.filters["tojson"] = lambda value: orjson.dumps(value, default=str).decode()


@lru_cache(maxsize=64)
def compile_template(source: str) -> jinja2.Template:
    """Compiling takes milliseconds; the same template text is compiled once per process."""
    return _ENV.compile_budgeted(source)


@lru_cache(maxsize=64)
def _schema_problem(schema_json: bytes) -> str | None:
    """What Draft 2020-12's meta-schema finds wrong with the schema, or None. jsonschema (~25 ms to
    import) only for a schema the flat fast path can't vouch for."""
    schema = orjson.loads(schema_json)
    if surely_valid_schema(schema):
        return None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


@dataclass(frozen=True)
class Task:
    name: str
    system: str
    user: str
    output_schema: dict[str, Any]
    primary_verdict: str | None = None
    description: str = ""
    version: int = 0  # 0 until saved in the store

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise TaskError(f"task name {self.name!r} must be letters, digits, '-' or '_'")
        try:
            problem = _schema_problem(orjson.dumps(self.output_schema, option=orjson.OPT_SORT_KEYS))
        except TypeError as exc:  # orjson: not JSON (a number beyond 64 bits, a key that is not text)
            raise TaskError(f"task {self.name!r}: invalid output schema: {exc}") from None
        if problem is not None:
            raise TaskError(f"task {self.name!r}: invalid output schema: {problem}")
        if self.output_schema.get("type") != "object":
            raise TaskError(f"task {self.name!r}: the output schema must describe an object")
        for label, source in (("system", self.system), ("user", self.user)):
            try:
                compile_template(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TaskError(f"task {self.name!r}: {label} template, line {exc.lineno}: {exc.message}") from None
            except Exception as exc:  # noqa: BLE001 - e.g. nesting too deep for the compiler
                raise TaskError(f"task {self.name!r}: {label} template: {_failure(exc)}") from None
        verdicts = [name for name, _ in self.verdict_fields]
        if self.primary_verdict is None and verdicts:
            object.__setattr__(self, "primary_verdict", verdicts[0])
        if self.primary_verdict is not None and self.primary_verdict not in verdicts:
            raise TaskError(f"task {self.name!r}: primary verdict {self.primary_verdict!r} is not an enum field")

    @property
    def verdict_fields(self) -> list[tuple[str, list[Any]]]:
        props = self.output_schema.get("properties", {})
        return [(name, list(spec["enum"])) for name, spec in props.items() if isinstance(spec, dict) and "enum" in spec]

    @property
    def field_names(self) -> list[str]:
        return list(self.output_schema.get("properties", {}))

    @cached_property
    def _templates(self) -> tuple[jinja2.Template, jinja2.Template]:
        return compile_template(self.system), compile_template(self.user)

    @cached_property
    def _system_prompt(self) -> str:
        """The same for every record (so it is rendered once, and servers can cache the prefix)."""
        schema_json = orjson.dumps(self.output_schema).decode()
        try:
            return render_within_budget(self._templates[0], {"schema_json": schema_json, "task": self.name}).strip()
        except Exception as exc:  # noqa: BLE001 - whatever a template does wrong is the task's error
            raise TaskError(f"task {self.name!r}: system template failed: {_failure(exc)}") from None

    @cached_property
    def _validator(self):
        from jsonschema import Draft202012Validator  # only once an answer fails the fast check

        return Draft202012Validator(self.output_schema)

    @cached_property
    def _fast_check(self):
        return compile_fast_check(self.output_schema)

    @property
    def content_hash(self) -> str:
        """Identifies the definition regardless of version number."""
        body = {k: v for k, v in self.to_dict().items() if k != "version"}
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]

    def render(self, record: dict[str, Any], examples: Sequence[tuple[dict, dict]] = ()) -> list[dict[str, str]]:
        """Chat messages for one record; ``examples`` are (record, answer) pairs shown as few-shot turns."""
        _, user_t = self._templates
        try:
            messages = [{"role": "system", "content": self._system_prompt}]
            for example_record, answer in examples:
                messages.append({"role": "user", "content": self._render_user(user_t, example_record)})
                messages.append({"role": "assistant", "content": orjson.dumps(answer).decode()})
            messages.append({"role": "user", "content": self._render_user(user_t, record)})
        except TaskError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a template does wrong on a record is the task's error
            raise TaskError(f"task {self.name!r}: template failed: {_failure(exc)}") from None
        return messages

    @staticmethod
    def _render_user(template: jinja2.Template, record: dict[str, Any]) -> str:
        context = {k: v for k, v in record.items() if isinstance(k, str) and k.isidentifier()}
        return render_within_budget(template, context | {"record": record}).strip()

    def validation_errors(self, output: Any) -> list[str]:
        if self._fast_check is not None and self._fast_check(output):
            return []
        errors = sorted(self._validator.iter_errors(output), key=lambda e: list(e.absolute_path))
        return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Task":
        known = {"name", "system", "user", "output_schema", "primary_verdict", "description", "version"}
        unknown = set(data) - known
        if unknown:
            raise TaskError(f"unknown task keys: {', '.join(sorted(unknown))}")
        missing = {"name", "system", "user", "output_schema"} - set(data)
        if missing:
            raise TaskError(f"task is missing: {', '.join(sorted(missing))}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: Path) -> "Task":
        import yaml  # here: a run never reads YAML (~8 ms to import)

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise TaskError(f"{path}: can't read task file ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise TaskError(f"{path}: a task file must be a YAML mapping")
        data.pop("version", None)
        return cls.from_dict(data)

    def with_version(self, version: int) -> "Task":
        return replace(self, version=version)


def _failure(exc: Exception) -> str:
    """A template's failure in one line: jinja2's own messages as they are, anything else with its type."""
    if isinstance(exc, jinja2.TemplateError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "too deeply nested (recursion)"
    return f"{type(exc).__name__}: {exc}"[:300]


RECOMMENDATIONS = ["Strong Yes", "Yes", "Maybe", "No", "Strong No"]
GRADES = ["Strong", "Good", "Average", "Weak"]

CANDIDATE_SCREENING = Task(
    name=DEFAULT_TASK,
    description="Screen a job candidate: overall recommendation, career trajectory and pedigree.",
    primary_verdict="recommendation",
    output_schema={
        "type": "object",
        "properties": {
            "recommendation": {"type": "string", "enum": RECOMMENDATIONS},
            "trajectory": {"type": "string", "enum": GRADES},
            "pedigree": {"type": "string", "enum": GRADES},
            "reasoning": {"type": "string", "maxLength": 400},
        },
        "required": ["recommendation", "trajectory", "pedigree", "reasoning"],
        "additionalProperties": False,
    },
    system="""You are an experienced technical recruiter screening candidates for a senior engineering role.
For each candidate, judge:
- recommendation: should we interview them? One of "Strong Yes", "Yes", "Maybe", "No", "Strong No".
- trajectory: how fast and how far their career has progressed. One of "Strong", "Good", "Average", "Weak".
- pedigree: the reputation of their employers and schools. One of "Strong", "Good", "Average", "Weak".
- reasoning: one or two short sentences explaining the recommendation.
Answer with a single JSON object and nothing else, matching this JSON Schema:
{{ schema_json }}""",
    user="""Candidate: {{ name or record.full_name or "(no name)" }}
{% if title %}Current role: {{ title }}{% if company %} at {{ company }}{% endif %}
{% endif %}{% if years_experience is defined and years_experience is not none and years_experience != "" %}Years of experience: {{ years_experience }}
{% endif %}{% if location %}Location: {{ location }}
{% endif %}{% if education %}Education:
{% if education is string %}- {{ education }}
{% else %}{% for e in education %}- {% if e is mapping %}{{ e.degree }} {{ e.field }}, {{ e.school }}{% else %}{{ e }}{% endif %}
{% endfor %}{% endif %}{% endif %}{% if skills %}Skills: {% if skills is string %}{{ skills }}{% else %}{{ skills | join(", ") }}{% endif %}
{% endif %}{% if work_history %}Work history:
{% if work_history is string %}{{ work_history }}
{% else %}{% for w in work_history %}- {% if w is mapping %}{{ w.start_year }}–{{ w.end_year or "now" }}: {{ w.title }} at {{ w.company }}{% if w.summary %}. {{ w.summary }}{% endif %}{% else %}{{ w }}{% endif %}
{% endfor %}{% endif %}{% endif %}{% if summary %}Summary: {{ summary }}
{% endif %}{% if not (title or skills or work_history or summary) %}Record: {{ record | tojson }}{% endif %}""",  # noqa: E501 - a template: its lines are the prompt's
)

BUILTIN_TASKS = {CANDIDATE_SCREENING.name: CANDIDATE_SCREENING}

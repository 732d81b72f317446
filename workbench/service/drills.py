"""The drill-down params of ``GET /api/workbench``: checked, resolved against the grid's columns and
task, and described in plain words for the page's chip.

- ``drill=confusion&drill_column=COL&drill_field=F&drill_label=L&drill_answer=A``: records with a
  reference label whose F is L where column COL answered A (``other``: outside F's options); F
  is the task's primary verdict, the field /api/metrics draws its confusion matrices for.
- ``drill=pair&drill_columns=A,B&drill_field=F&drill_agree=0|1``: records both columns answered
  where they disagree (0) or agree (1) on F.
- ``drill=annotators[&drill_field=judgement|golden|preference]``: records where two or more
  annotators disagree on that field (any of them without ``drill_field``), as
  /api/agreement/annotators counts them for the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.domain.errors import InvalidInput
from workbench.domain.metrics import OTHER
from workbench.domain.tasks import Task
from workbench.grid.drill import ANNOTATORS, CONFUSION, PAIR, Drill
from workbench.store.annotator_labels import AGREEMENT_FIELDS

DRILL_PARAMS = ("drill_column", "drill_columns", "drill_field", "drill_label", "drill_answer", "drill_agree")
_NEEDS = {CONFUSION: ("drill_column", "drill_field", "drill_label", "drill_answer"),
          PAIR: ("drill_columns", "drill_field", "drill_agree"), ANNOTATORS: ()}
_OPTIONAL = {ANNOTATORS: ("drill_field",)}
_KINDS = f"{CONFUSION}, {PAIR} or {ANNOTATORS}"


class BadDrill(InvalidInput):
    """Drill-down params that name no Metrics figure of this grid."""


@dataclass(frozen=True)
class AskedDrill:
    kind: str
    params: dict[str, str]


def parse_drill(params: dict[str, str | None]) -> AskedDrill | None:
    """The drill asked (``params``: ``drill`` and the DRILL_PARAMS, None where absent), or None."""
    kind = params.get("drill")
    given = {name: value for name in DRILL_PARAMS if (value := params.get(name)) is not None}
    if kind is None or kind == "":
        if given:
            raise BadDrill(f"{sorted(given)[0]} needs drill={CONFUSION}, {PAIR} or {ANNOTATORS}")
        return None
    if kind not in _NEEDS:
        raise BadDrill(f"drill must be {_KINDS}, not {_shown(kind)}")
    needed = _NEEDS[kind]
    missing = [name for name in needed if not given.get(name)]
    if missing:
        raise BadDrill(f"drill={kind} needs {', '.join(missing)}")
    taken = needed + _OPTIONAL.get(kind, ())
    extra = [name for name in given if name not in taken]
    if extra:
        raise BadDrill(f"drill={kind} takes no {', '.join(extra)}")
    return AskedDrill(kind, {name: given[name] for name in taken if name in given})


def resolve_drill(asked: AskedDrill, task: Task, run_ids: dict[str, int]) -> Drill:
    """The drill over the grid's columns (``run_ids``, those shown with a run) and its task."""
    params = asked.params
    if asked.kind == ANNOTATORS:
        field = params.get("drill_field", "")
        if field and field not in AGREEMENT_FIELDS:
            raise BadDrill(f"drill_field for annotators must be one of {', '.join(AGREEMENT_FIELDS)}, "
                           f"not {_shown(field)}")
        return Drill(ANNOTATORS, tuple(run_ids), field)
    fields = dict(task.verdict_fields)
    field = params["drill_field"]
    if field not in fields:
        raise BadDrill(f"{_shown(field)} is not a verdict field of task {task.name!r}")
    if asked.kind == CONFUSION:
        if field != task.primary_verdict:
            raise BadDrill(f"confusion matrices are drawn for the primary verdict {task.primary_verdict!r} only")
        column = _column(params["drill_column"], run_ids)
        options = tuple(fields[field])
        return Drill(CONFUSION, (column,), field, options, _label(params["drill_label"], options, "drill_label"),
                     _label(params["drill_answer"], options, "drill_answer"))
    columns = tuple(_column(c.strip(), run_ids) for c in params["drill_columns"].split(","))
    if len(columns) != 2 or columns[0] == columns[1]:
        raise BadDrill("drill_columns must name two different columns, e.g. gemma,olmo")
    if params["drill_agree"] not in ("0", "1"):
        raise BadDrill(f"drill_agree must be 0 or 1, not {_shown(params['drill_agree'])}")
    return Drill(PAIR, columns, field, agree=params["drill_agree"] == "1")


def describe_drill(drill: Drill, labels: dict[str, str]) -> str:
    """Plain words for the chip: "Gemma · v1 answered No where the label is Yes"."""
    if drill.kind == ANNOTATORS:
        return f"Annotators disagree on {drill.field or 'judgement, golden or preference'}"
    if drill.kind == CONFUSION:
        options = list(drill.options) + [OTHER]
        answer, label = options[drill.answer], options[drill.label]
        answered = "something outside the options" if drill.answer == len(drill.options) else answer
        where = "something outside the options" if drill.label == len(drill.options) else label
        return f"{labels.get(drill.columns[0], drill.columns[0])} answered {answered} where the label is {where}"
    a, b = (labels.get(c, c) for c in drill.columns)
    return f"{a} and {b} {'agree' if drill.agree else 'disagree'} on {drill.field}"


def _column(column: str, run_ids: dict[str, int]) -> str:
    if column not in run_ids:
        raise BadDrill(f"column {_shown(column)} is not shown (in models=) or has no run on this dataset")
    return column


def _label(value: str, options: tuple[str, ...], name: str) -> int:
    if value in options:
        return options.index(value)
    if value == OTHER:
        return len(options)
    raise BadDrill(f"{name} must be one of {', '.join(options)} or {OTHER}, not {_shown(value)}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "…")

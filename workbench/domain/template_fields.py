"""Which record fields a task's user template uses, and which of them a dataset lacks.

A field is used as a top-level name (``{{ title }}``) or through the record (``record.title``,
``record["title"]``, ``record.get("title")``). A use is *optional* when the template copes with
the field being absent: it is tested (``{% if title %}``, ``title is defined``, ``a if title``),
used under a test of itself (``{% if title %}… {{ title }}``), given a fallback (``title or
"…"``, ``title | default("…")``) or read with ``record.get``. Every other use is *required*.

The rule for refusing a task on a dataset (``missing_fields``): a required field the dataset
lacks is missing; and when the dataset has none of the fields the template uses, all of them are
missing — the template would show nothing of the record it was written for (the built-in
candidate template on a reviews file). An optional field alone being absent is not refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from jinja2 import meta, nodes

from workbench.domain.errors import InvalidInput
from workbench.domain.template_budget import BudgetedEnvironment

# Names the templates get besides the record's fields (domain/tasks.py renders with these).
CONTEXT_NAMES = frozenset({"record", "schema_json", "task"})
_SYSTEM_NAMES = frozenset({"schema_json", "task"})
_GLOBALS = frozenset({"range", "dict", "namespace", "cycler", "joiner", "loop", "__steps", "__concat"})
_ABSENCE_TESTS = frozenset({"defined", "undefined", "none"})
_FALLBACK_FILTERS = frozenset({"default", "d"})

# meta's analysis compiles the template, folding constants: in the sandbox with the budget, so that
# `{{ "x" * 10**10 }}` is not worked out while looking for names.
_PARSER = BudgetedEnvironment()


def _parse(source: str) -> nodes.Template | None:
    try:
        return _PARSER.parse(source)
    except Exception:  # noqa: BLE001 - a template that doesn't parse uses no fields (its problem is reported elsewhere)
        return None


@lru_cache(maxsize=256)
def field_uses(source: str) -> dict[str, bool]:
    """Record fields a user template uses, in order of first use: field → whether a use is required."""
    tree = _parse(source)
    if tree is None:
        return {}
    uses: dict[str, bool] = {}
    try:
        free = meta.find_undeclared_variables(tree) - CONTEXT_NAMES - _GLOBALS
        _Walker(free, uses).visit(tree, optional=False, guarded=frozenset())
    except RecursionError:  # nested deeper than the walk can go: no fields known, nothing refused
        return {}
    return uses


def template_fields(task) -> set[str]:
    """The record fields a task's templates use."""
    return set(field_uses(task.user))


def system_template_names(source: str) -> list[str]:
    """Names a system template uses that it never gets (it is rendered once, without a record)."""
    tree = _parse(source)
    if tree is None:
        return []
    return sorted(meta.find_undeclared_variables(tree) - _SYSTEM_NAMES - _GLOBALS)


def missing_fields(task, dataset_fields: Iterable[str]) -> list[str]:
    """The fields that make ``task`` unfit for a dataset with these fields (the rule above); [] = fit."""
    return missing_from(field_uses(task.user), set(dataset_fields))


def missing_from(uses: dict[str, bool], present: set[str]) -> list[str]:
    if uses and not any(f in present for f in uses):
        return list(uses)  # nothing the template uses is there
    return [f for f, required in uses.items() if required and f not in present]


def absent_fields(task, dataset_fields: Iterable[str]) -> list[str]:
    """Every field the task uses that the dataset lacks, refused for or not (the preview shows them)."""
    present = set(dataset_fields)
    return [f for f in field_uses(task.user) if f not in present]


class _Walker:
    def __init__(self, free: set[str], uses: dict[str, bool]):
        self.free = free
        self.uses = uses

    def field_of(self, node: nodes.Node) -> str | None:
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in self.free:
            return node.name
        if isinstance(node, (nodes.Getattr, nodes.Getitem)) and isinstance(node.node, nodes.Name) \
                and node.node.name == "record":
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            return key if isinstance(key, str) and key != "get" else None
        return None

    def fields_in(self, node: nodes.Node) -> frozenset[str]:
        found = {self.field_of(node)} | {self.field_of(n) for n in node.find_all((nodes.Name, nodes.Getattr,
                                                                                    nodes.Getitem))}
        return frozenset(f for f in found if f)

    def use(self, field: str, required: bool) -> None:
        self.uses[field] = self.uses.get(field, False) or required

    def visit(self, node: nodes.Node, optional: bool, guarded: frozenset[str]) -> None:
        field = self.field_of(node)
        if field is not None:
            self.use(field, not optional and field not in guarded)
            return
        if isinstance(node, (nodes.If, nodes.CondExpr)):
            self._visit_branch(node, optional, guarded)
        elif isinstance(node, nodes.Or) or (isinstance(node, nodes.Test) and node.name in _ABSENCE_TESTS):
            self._children(node, True, guarded)
        elif isinstance(node, nodes.Filter) and node.name in _FALLBACK_FILTERS and node.node is not None:
            self.visit(node.node, True, guarded)
            for child in [*node.args, *node.kwargs]:
                self.visit(child, optional, guarded)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.node.attr == "get" \
                and isinstance(node.node.node, nodes.Name) and node.node.node.name == "record" and node.args:
            key = getattr(node.args[0], "value", None)
            if isinstance(key, str):
                self.use(key, False)
            for child in node.args[1:]:
                self.visit(child, optional, guarded)
        else:
            self._children(node, optional, guarded)

    def _visit_branch(self, node: nodes.If | nodes.CondExpr, optional: bool, guarded: frozenset[str]) -> None:
        test = node.test
        if test is not None:
            self.visit(test, True, guarded)
        inner = guarded | (self.fields_in(test) if test is not None else frozenset())
        if isinstance(node, nodes.If):
            for child in node.body:
                self.visit(child, optional, inner)
            for branch in node.elif_:
                self._visit_branch(branch, optional, guarded)
            for child in node.else_:
                self.visit(child, optional, guarded)
        else:
            self.visit(node.expr1, optional, inner)
            if node.expr2 is not None:
                self.visit(node.expr2, optional, guarded)

    def _children(self, node: nodes.Node, optional: bool, guarded: frozenset[str]) -> None:
        for child in node.iter_child_nodes():
            self.visit(child, optional, guarded)


class MissingFields(InvalidInput):
    """A task refused for a dataset that lacks the fields its templates use."""

    def __init__(self, task_name: str, dataset_id: str, fields: list[str]):
        self.fields = fields
        super().__init__(f"task {task_name!r} uses fields that dataset {dataset_id!r} lacks: {', '.join(fields)} "
                         "(confirm to run it anyway: allow_missing_fields, or --allow-missing-fields)")

    def to_dict(self) -> dict:
        return super().to_dict() | {"missing_fields": self.fields}

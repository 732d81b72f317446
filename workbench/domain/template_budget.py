"""Rendering a task's templates within a budget.

The sandbox keeps a template from reaching Python's internals, but not from asking for a lot of
work: ``{% for i in range(99999) %}{% for j in range(99999) %}…`` or ``{{ "x" * 10**10 }}`` would
hang or exhaust the server on every preview, try and run. Here every loop step and call is counted
and the clock checked, ``range`` is short, and the operations that can make big values (``*``,
``**``, ``+``, ``~``, ``%``, padding and replacing) are refused past a size; the output is capped
as it streams. A template over the limit fails with a ``BudgetExceeded`` naming the limit.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

import jinja2
import orjson
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_STEPS = 200_000  # loop iterations and calls in one render
MAX_RANGE = 10_000  # items in one range()
MAX_TEXT = 200_000  # characters in one value made by the template, and in its output
MAX_INT_BITS = 10_000  # size of a number made by the template
MAX_SECONDS = 1.0  # wall clock for one render
_WIDE_FORMAT = re.compile(r"\d{6,}|\*|\{[^{}]+\{")  # a format width of 100,000+ or taken from an argument


class BudgetExceeded(SecurityError):
    """A template asked for more work or a bigger value than a prompt needs."""


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > MAX_STEPS:
            raise BudgetExceeded(f"the template took more than {MAX_STEPS:,} steps (loop iterations and calls)")
        if self.steps % 256 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the template took more than {MAX_SECONDS:g} s to render")


_current: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("template_budget", default=None)


def _tick(count: int = 1) -> None:
    budget = _current.get()
    if budget is not None:
        budget.tick(count)


def _too_long(what: str, size: int) -> None:
    if size > MAX_TEXT:
        raise BudgetExceeded(f"{what} would make a value of {size:,} items; the limit is {MAX_TEXT:,}")


def _too_many(what: str, count: Any) -> None:
    if isinstance(count, int) and count > MAX_RANGE:
        raise BudgetExceeded(f"{what} of {count:,}; the limit is {MAX_RANGE:,}")


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _checked_mul(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        size = _sized(seq)
        if size is not None and isinstance(count, int):
            _too_long("'*'", size * max(count, 0))
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(f"'*' would make a number over {MAX_INT_BITS:,} bits")
    return left * right


def _checked_pow(left: Any, right: Any) -> Any:
    if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0 \
            and left.bit_length() * right > MAX_INT_BITS:
        raise BudgetExceeded(f"'**' would make a number over {MAX_INT_BITS:,} bits")
    if isinstance(left, float) or isinstance(right, float):
        try:
            return float(left) ** float(right)
        except OverflowError:
            raise BudgetExceeded("'**' overflows") from None
    return left ** right


def _checked_add(left: Any, right: Any) -> Any:
    if _sized(left) is not None and _sized(right) is not None:
        _too_long("'+'", len(left) + len(right))
    return left + right


def _check_format(spec: Any) -> None:
    if isinstance(spec, str) and _WIDE_FORMAT.search(spec):
        raise BudgetExceeded("a format width of 100,000 or more (or taken from an argument) is refused")


def _checked_mod(left: Any, right: Any) -> Any:
    _check_format(left)
    return left % right


def _concat(*values: Any) -> str:
    """The ``~`` operator, with its result's size checked."""
    parts = [str(v) for v in values]
    _too_long("'~'", sum(map(len, parts)))
    return "".join(parts)


def _steps(iterable: Any) -> Iterator[Any]:
    """What a ``for`` loop iterates: the same items, each counted."""
    for item in iterable:
        _tick()
        yield item


def _short_range(*args: int) -> list[int]:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise BudgetExceeded(f"range() of {len(numbers):,} numbers; the limit is {MAX_RANGE:,}")
    _tick(len(numbers))
    return list(numbers)


_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}


def _check_str_method(method: Any, args: tuple, kwargs: dict) -> None:
    method = getattr(method, "__wrapped__", method)  # str.format comes wrapped by the sandbox
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS:
        width = next(iter(args), next(iter(kwargs.values()), 0))
        if isinstance(width, int):
            _too_long(f"str.{name}", width * (owner.count("\t") + 1 if name == "expandtabs" else 1))
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _too_long("str.replace", len(owner) + (owner.count(args[0]) + (not args[0])) * len(args[1]))
    elif name in ("format", "format_map"):
        _check_format(owner)


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.binop_table = dict(self.binop_table) | {"*": _checked_mul, "**": _checked_pow, "+": _checked_add,
                                                        "%": _checked_mod}
        self.globals = {"range": _short_range, "dict": dict, "namespace": self.globals["namespace"],
                        "cycler": self.globals["cycler"], "joiner": self.globals["joiner"],
                        "__steps": _steps, "__concat": _concat}
        base = self.filters
        self.filters = dict(base) | {
            "center": _checked_before(base["center"], lambda value, width=80, *_: _too_long(
                "center", width if isinstance(width, int) else 0)),
            "indent": _budgeted_indent(base["indent"]),
            "format": _checked_before(base["format"], lambda value, *_, **__: _check_format(value)),
            "replace": _budgeted_replace(base["replace"]),
            # how many groups slice makes, and how far batch pads the last one, are the template's to say
            "slice": _checked_before(base["slice"], lambda value, slices, *_: _too_many("slice", slices)),
            "batch": _checked_before(base["batch"], lambda value, linecount, *_: _too_many("batch", linecount)),
            "tojson": lambda value: orjson.dumps(value, default=str).decode(),  # no indent= to ask for
        }

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - as in jinja2
        _tick()
        _check_str_method(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def compile_budgeted(self, source: str) -> jinja2.Template:
        """``from_string`` with every loop counted and every ``~`` checked."""
        tree = self.parse(source)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name("__steps", "load"), [loop.iter], [], None, None)
        _replace_concat(tree)
        return self.template_class.from_code(self, self.compile(tree), self.make_globals(None), None)


def _checked_before(apply: Any, check: Any) -> Any:
    """``apply`` (a jinja2 filter) with ``check`` of its arguments first."""
    passes = getattr(apply, "jinja_pass_arg", None)  # it takes the environment or context first

    def checked(*args: Any, **kwargs: Any) -> Any:
        check(*(args[1:] if passes is not None else args), **kwargs)
        return apply(*args, **kwargs)

    if passes is not None:
        checked.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return checked


def _budgeted_indent(indent: Any) -> Any:
    def budgeted(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> Any:
        if isinstance(width, int):
            _too_long("indent", width * (str(value).count("\n") + 1) + len(str(value)))
        elif isinstance(width, str):
            _too_long("indent", len(width) * (str(value).count("\n") + 1) + len(str(value)))
        return indent(value, width, *args, **kwargs)
    return budgeted


def _budgeted_replace(replace: Any) -> Any:
    def budgeted(eval_ctx: Any, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        text = str(value)
        if isinstance(old, str) and isinstance(new, str):
            _too_long("replace", len(text) + (text.count(old) + (not old)) * len(new))
        return replace(eval_ctx, value, old, new, count)
    return jinja2.pass_eval_context(budgeted)


def _replace_concat(node: nodes.Node) -> None:
    """Every ``a ~ b`` becomes a call that checks the size of what it joins."""
    for field, value in node.iter_fields():
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, nodes.Node):
                    _replace_concat(item)
                    if isinstance(item, nodes.Concat):
                        value[i] = _concat_call(item)
        elif isinstance(value, nodes.Node):
            _replace_concat(value)
            if isinstance(value, nodes.Concat):
                setattr(node, field, _concat_call(value))


def _concat_call(node: nodes.Concat) -> nodes.Call:
    call = nodes.Call(nodes.Name("__concat", "load"), list(node.nodes), [], None, None)
    call.set_lineno(node.lineno)
    return call


_PARTS_PER_CHECK = 32  # pieces joined (in C) between two checks of the output's length


def render_within_budget(template: jinja2.Template, context: dict[str, Any]) -> str:
    """The rendered text; ``BudgetExceeded`` when the template asks for too much.

    What ``template.generate`` does, without its Python-level step per piece (the built-in task's
    template yields ~65 per record): the pieces are joined a few dozen at a time and the length
    checked after each group, so a long output fails after at most that many more pieces."""
    token = _current.set(_Budget())
    try:
        pieces = template.root_render_func(template.new_context(context))
        size, chunks = 0, list[str]()
        while True:
            try:
                group = list(islice(pieces, _PARTS_PER_CHECK))
            except Exception:  # noqa: BLE001 - re-raised, with the template's lines in the traceback as generate() does
                template.environment.handle_exception()
            if not group:
                return "".join(chunks)
            chunk = "".join(group)
            size += len(chunk)
            if size > MAX_TEXT:
                raise BudgetExceeded(f"the rendered prompt is longer than {MAX_TEXT:,} characters")
            chunks.append(chunk)
    finally:
        _current.reset(token)


__all__ = ["BudgetExceeded", "BudgetedEnvironment", "MAX_RANGE", "MAX_SECONDS", "MAX_STEPS", "MAX_TEXT",
           "render_within_budget"]

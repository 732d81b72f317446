"""Fast paths for the common flat output schema: an object of strings and string enums.

jsonschema costs ~25 ms to import and ~100 µs per answer validated. Most tasks' schemas are
this flat shape, so checking the schema itself and answers against it is done here in a few
µs; anything these functions can't vouch for goes to jsonschema, which also writes the
messages. Neither ever says "valid" where jsonschema would not (tests/test_flat_schema.py).
"""

from __future__ import annotations

from typing import Any

_FAST_KEYWORDS = {"type", "properties", "required", "additionalProperties", "title", "description"}
_FAST_PROPERTY_KEYWORDS = {"type", "enum", "maxLength", "minLength", "title", "description"}


def surely_valid_schema(schema: Any) -> bool:
    """True only for a flat schema Draft 2020-12's meta-schema accepts; False means "ask jsonschema"."""
    if not isinstance(schema, dict) or set(schema) - _FAST_KEYWORDS or schema.get("type") != "object":
        return False
    if not all(isinstance(schema[k], str) for k in ("title", "description") if k in schema):
        return False
    if not isinstance(schema.get("additionalProperties", True), bool):
        return False
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required) \
            or len(set(required)) != len(required):
        return False
    props = schema.get("properties", {})
    return isinstance(props, dict) and all(isinstance(name, str) and _surely_valid_property(spec)
                                           for name, spec in props.items())


def _surely_valid_property(spec: Any) -> bool:
    if not isinstance(spec, dict) or set(spec) - _FAST_PROPERTY_KEYWORDS or spec.get("type", "string") != "string":
        return False
    if not all(isinstance(spec[k], str) for k in ("title", "description") if k in spec):
        return False
    if "enum" in spec and not isinstance(spec["enum"], list):
        return False
    # a non-negative integer; JSON has no bool-as-number, and 1.0 is left to jsonschema
    return all(type(spec[k]) is int and spec[k] >= 0 for k in ("minLength", "maxLength") if k in spec)


def compile_fast_check(schema: dict[str, Any]):
    """A quick "is it valid?" for the common flat schema (enums, strings), or None.

    It answers "valid" in a few µs; anything it can't vouch for goes to jsonschema, which also
    produces the messages.
    """
    if not surely_valid_schema(schema):
        return None
    props = schema.get("properties", {})
    checks = []
    for name, spec in props.items():
        if "enum" in spec and not all(isinstance(v, str) for v in spec["enum"]):
            return None
        checks.append((name, frozenset(spec["enum"]) if "enum" in spec else None,
                       spec.get("minLength", 0), spec.get("maxLength")))
    required = tuple(schema.get("required", ()))
    closed = schema.get("additionalProperties", True) is False
    allowed = frozenset(props)

    def check(value: Any) -> bool:
        if not isinstance(value, dict) or any(k not in value for k in required):
            return False
        if closed and not allowed.issuperset(value):
            return False
        for name, enum, min_len, max_len in checks:
            if name not in value:
                continue
            v = value[name]
            if not isinstance(v, str) or (enum is not None and v not in enum) or len(v) < min_len:
                return False
            if max_len is not None and len(v) > max_len:
                return False
        return True

    return check

"""Query and path parameters, typed once: whole numbers in ASCII digits within 64 bits, bounded
texts and lists. What breaks them is a 422 with a message before any handler runs (see also
boundary.py, which refuses NUL, invalid UTF-8 and huge values in every parameter)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query
from pydantic import AfterValidator, BeforeValidator, Field

from workbench.grid.selection import INT64_MAX, parse_int64


def _whole_number(value: Any) -> Any:
    # Pydantic alone takes " 5", "+5", "1_000" and "5.0"; a query string gets the one strict parser.
    return parse_int64(value) if isinstance(value, str) else value


Int64 = Annotated[int, BeforeValidator(_whole_number), Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
# Ids and positions are 64-bit integers in the database; bigger ones are refused as input.
DatabaseId = Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=INT64_MAX)]

MAX_SEARCH_CHARS = 1000
SearchText = Annotated[str | None, Query(max_length=MAX_SEARCH_CHARS, description="text to search for")]


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not hold a NUL character")
    return value


# A short text field of a form (an upload's name, id field, format): a name, not a document.
FormText = Annotated[str | None, Form(max_length=200), AfterValidator(_no_nul)]

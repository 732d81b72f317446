"""Names and limits the command line's options show, in a module that imports nothing.

`workbench --help` must start in a blink, so the choices of its options can't come from the
modules that define the behaviour (they import SQLAlchemy, pydantic, jsonschema: ~0.5 s). Those
modules import these constants from here: one source of truth, light to read.
"""

from __future__ import annotations

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the databases' integers (ids, counts, JSON integers)

IMPORT_FORMATS = ("jsonl", "csv", "parquet")

# Every export kind and its formats (the first is the default): the one list the CLI's choices,
# the API's checks and the page read.
EXPORT_KIND_FORMATS = {
    "results": ("jsonl", "csv", "parquet"), "golden": ("jsonl",), "comparison": ("csv",),
    "comparison-summary": ("csv",), "training": ("jsonl",), "training-parquet": ("parquet",), "few-shot": ("txt",),
    "preferences": ("jsonl",),  # TRL conversational preference pairs (domain/preference_pairs.py)
}
EXPORT_KINDS = tuple(EXPORT_KIND_FORMATS)
EXPORT_FORMATS = tuple(dict.fromkeys(f for formats in EXPORT_KIND_FORMATS.values() for f in formats))
EXPORT_LAYOUTS = ("long", "wide")  # results: a row per record × model, or per record
MAX_EXAMPLES = 50  # few-shot: golden examples in one block

STRUCTURED_OUTPUT_MODES = ("auto", "json_schema", "json_object", "prompt")

# The task a run, a probe or an empty grid uses when none is named (the built-in task's name).
DEFAULT_TASK = "candidate-screening"
ROLE_NAMES = ("viewer", "annotator", "admin")  # accounts: each may do what the ones before it may

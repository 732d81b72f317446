"""What a run shows the model besides each record, kept with the run once it starts, so that what a
trace re-renders is what was sent, also after a golden answer is corrected or on a resume."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa

from workbench.store.db import Store, write_transaction
from workbench.store.schema import runs

EXAMPLES = "examples"  # the option holding the frozen few-shot examples: [[record id, record, answer], ...]


def freeze_option(store: Store, run_id: int, name: str, value: Any) -> Any:
    """Set the run's option ``name`` unless it is set already; the value the run keeps either way
    (None when the run is gone)."""
    with write_transaction(store, f"run-inputs:{run_id}") as conn:
        stored = conn.execute(sa.select(runs.c.options).where(runs.c.id == run_id)).scalar()
        if stored is None:
            return None
        options = orjson.loads(stored)
        if options.get(name) is not None:
            return options[name]
        options[name] = value
        conn.execute(runs.update().where(runs.c.id == run_id).values(options=orjson.dumps(options).decode()))
        return value

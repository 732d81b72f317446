"""The few-shot examples of a run: chosen (by id) when it is created, frozen (records and answers)
when it first starts, read back by the runner on a resume and by a result's trace."""

from __future__ import annotations

from workbench.runner.asking import Example
from workbench.runner.options import RunOptions
from workbench.store import Store
from workbench.store.run_inputs import EXAMPLES, freeze_option
from workbench.store.runs import RunInfo


def run_examples(store: Store, run: RunInfo) -> list[Example]:
    """The examples the run shows: the frozen ones; for a run that never started (or started before
    examples were frozen), the golden answers of its chosen records as they are now."""
    options = RunOptions.from_dict(run.options)
    if options.examples is not None:
        return _examples(options.examples)
    if not options.example_ids:
        return []
    from workbench.grid.curation import golden_examples  # the grid's modules only for a few-shot run

    return golden_examples(store, options.examples_from or run.dataset_id, record_ids=options.example_ids)


def freeze_examples(store: Store, run: RunInfo) -> list[Example]:
    """``run_examples``, kept with the run the first time (a resume, or another process taking it
    over, finds them there)."""
    options = RunOptions.from_dict(run.options)
    if options.examples is not None or not options.example_ids:
        return run_examples(store, run)
    chosen = [list(example) for example in run_examples(store, run)]
    kept = freeze_option(store, run.id, EXAMPLES, chosen)
    return _examples(kept if kept is not None else chosen)


def _examples(stored: list) -> list[Example]:
    return [(str(record_id), record, answer) for record_id, record, answer in stored]

"""Records with results and their annotations, as the curation exports and metrics read them."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from workbench.domain.annotations import golden_answer, reference_label
from workbench.domain.columns import shown_preference
from workbench.domain.curated_exports import CuratedItem
from workbench.store.annotations import answer_states, record_notes
from workbench.store.datasets import iter_records
from workbench.store.db import Store
from workbench.grid.views import iter_record_results

BATCH = 1000


def iter_curated(store: Store, dataset_id: str, run_ids: dict[str, int], *, with_data: bool = True,
                 reference: str = "label", golden_only: bool = False) -> Iterator[CuratedItem]:
    """Every record with each column's result (``run_ids``: column id -> run), its reference answer
    ("label": golden, else a correction; "golden": golden only) from the answers annotated on any
    run, the preference as one of these columns (None if it prefers a run not among them), and the
    note. Annotations come a page at a time. With ``golden_only`` just the records that have a
    golden answer are read (a golden set is small)."""
    for _, item in iter_curated_seqs(store, dataset_id, run_ids, with_data=with_data, reference=reference,
                                     golden_only=golden_only):
        yield item


def iter_curated_seqs(store: Store, dataset_id: str, run_ids: dict[str, int], *, with_data: bool = True,
                      reference: str = "label", golden_only: bool = False,
                      annotated_only: bool = False) -> Iterator[tuple[int, CuratedItem]]:
    """``iter_curated`` with each record's seq (the grid's key for it). With ``annotated_only``
    just the records with an annotation on some answer: the only ones that can have a reference."""
    pick = reference_label if reference == "label" else golden_answer
    seqs = list(answer_states(store, dataset_id, golden_only=True)) if golden_only else None
    if annotated_only and not golden_only:
        seqs = list(answer_states(store, dataset_id))
    items = iter_record_results(store, dataset_id, run_ids, with_data=with_data, batch=BATCH, seqs=seqs)
    while True:
        page = list(islice(items, BATCH))
        if not page:
            return
        seqs = [item.seq for item in page]
        states = answer_states(store, dataset_id, seqs)
        notes = record_notes(store, dataset_id, seqs)
        for item in page:
            chosen = pick(states.get(item.seq, []))
            note = notes.get(item.seq, {})
            yield item.seq, CuratedItem(
                record_id=item.record_id, title=item.title, subtitle=item.subtitle, data=item.data,
                results=item.results, reference=chosen[0] if chosen else None,
                provenance=chosen[1] if chosen else None,
                preference=shown_preference(note.get("preference"), run_ids),
                note=note.get("note"),
            )


GOLDEN_FIELDS = ("golden_answer", "golden_provenance")


def golden_examples(store: Store, dataset_id: str, limit: int | None = None,
                    record_ids: list[str] | None = None) -> list[tuple[str, dict, dict]]:
    """(record id, record, golden answer) for few-shot prompts, in record order.

    Answers marked golden here come first; a dataset imported from a golden export carries
    its answers in each record's ``golden_answer`` field, so that file can feed a run directly.
    """
    marked = {}
    for seq, answers in answer_states(store, dataset_id, golden_only=True).items():
        chosen = golden_answer(answers)
        if chosen is not None:
            marked[seq] = chosen[0]
    wanted = set(record_ids) if record_ids is not None else None
    examples: list[tuple[str, dict, dict]] = []
    for record in iter_records(store, dataset_id):
        if wanted is not None and record.record_id not in wanted:
            continue
        answer = marked.get(record.seq)
        carried = record.data.get("golden_answer")
        if answer is None and isinstance(carried, dict):
            answer = carried
        if answer is None:
            continue
        data = {k: v for k, v in record.data.items() if k not in GOLDEN_FIELDS}
        examples.append((record.record_id, data, answer))
        if limit is not None and len(examples) >= limit:
            break
    return examples

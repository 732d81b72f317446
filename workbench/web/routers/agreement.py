"""People agree with people: annotators' agreement per field (percent, Cohen's κ, Krippendorff's α)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from workbench.service.agreement import annotator_agreement
from workbench.web.access import VIEWER, needs

router = APIRouter(tags=["agreement"])
MAX_PARAM_CHARS = 4000


@router.get("/agreement/annotators", **needs(VIEWER))
def annotators(request: Request, dataset_id: Annotated[str, Query(max_length=MAX_PARAM_CHARS)],
               models: Annotated[str | None, Query(max_length=MAX_PARAM_CHARS,
                                                   description="columns, as the grid takes them")] = None) -> dict:
    """For the units two or more people labelled (an answer's judgement or golden mark, a record's
    preference): the annotators, n, percent agreement (Wilson 95% interval), Cohen's κ for two
    annotators (bootstrap 95% interval; per pair for more), Krippendorff's α (nominal) for any
    number, and how many records they disagree on (the grid's ``drill=annotators``)."""
    return annotator_agreement(request.app.state.store, dataset_id, models)

"""The grid endpoint (the seed's single call for the page) and the live socket."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, WebSocket

from workbench.service.grid import FILTERS, SORTS  # the choices, for the API docs
from workbench.service.grid import grid_view
from workbench.service.live import latest_event_id, live_messages
from workbench.web.params import DatabaseId, Int64, SearchText
from workbench.service import accounts
from workbench.web.access import VIEWER, needs, principal

router = APIRouter(tags=["workbench"])
log = logging.getLogger(__name__)
TICK_S = 0.1
RECHECK_S = 1.0  # how soon an open feed notices its session ended
MAX_DRILL_CHARS = 1000
DrillText = Annotated[str | None, Query(max_length=1000)]  # at most ~10 socket messages a second per client


@router.get("/workbench", **needs(VIEWER))
def workbench(
    request: Request,
    dataset_id: str,
    models: str | None = None,
    filter: str = Query("all", description=" | ".join(FILTERS)),
    q: SearchText = None,
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
    limit: Annotated[Int64, Query(description="rows per page (at most 500)")] = 50,
    counts: bool = True,
    seqs: str | None = Query(None, description="comma-separated record seqs: refresh just these rows"),
    diff_field: str | None = Query(None, description="with filter=differences: only this verdict field"),
    verdict: list[str] | None = Query(None, description="model:field=value, e.g. olmo:recommendation=No"),
    sort: str = Query("record", description=" | ".join(SORTS)),
    drill: Annotated[str | None, Query(max_length=MAX_DRILL_CHARS,
                                        description="confusion | pair: the records of a Metrics figure")] = None,
    drill_column: Annotated[str | None, Query(max_length=MAX_DRILL_CHARS,
                                        description="drill=confusion: the column")] = None,
    drill_columns: Annotated[str | None, Query(max_length=MAX_DRILL_CHARS,
                                        description="drill=pair: two columns, A,B")] = None,
    drill_field: Annotated[str | None, Query(max_length=MAX_DRILL_CHARS,
                                        description="the verdict field")] = None,
    drill_label: Annotated[str | None, Query(max_length=MAX_DRILL_CHARS,
                                        description="drill=confusion: the reference label (or other)")] = None,
    drill_answer: Annotated[str | None, Query(max_length=MAX_DRILL_CHARS,
                                        description="drill=confusion: the column's answer (or other)")] = None,
    drill_agree: Annotated[str | None, Query(max_length=MAX_DRILL_CHARS,
                                        description="drill=pair: 1 agree, 0 disagree")] = None,
) -> dict:
    """Records × selected models: each model's answer, agreement, and where review is needed.
    With a drill, only the records a Metrics confusion cell or pair agreement counted."""
    drilled = {"drill": drill, "drill_column": drill_column, "drill_columns": drill_columns,
               "drill_field": drill_field, "drill_label": drill_label, "drill_answer": drill_answer,
               "drill_agree": drill_agree}
    return grid_view(request.app.state.store, dataset_id, models=models, filter=filter, q=q, cursor=cursor,
                     limit=limit, counts=counts, seqs=seqs, diff_field=diff_field, verdicts=verdict, sort=sort,
                     drill=drilled)


@router.websocket("/workbench/live", dependencies=needs(VIEWER)["dependencies"])
async def live(websocket: WebSocket, after: DatabaseId | None = None) -> None:
    """Events after ``after``, coalesced into at most one message per tick: a reconnecting
    client passes its last id and gets everything it missed. With accounts on, the feed closes
    (4401) within ``RECHECK_S`` of its user's session ending."""
    app = websocket.app  # the token, host and origin were checked by GuardMiddleware, as for HTTP
    await websocket.accept()
    store = app.state.store
    cursor = after if after is not None else await asyncio.to_thread(latest_event_id, store)

    who, checked = principal(websocket), time.monotonic()

    async def pump() -> None:
        nonlocal cursor, checked
        while True:
            if time.monotonic() - checked > RECHECK_S:  # a sign-out, disable or reset ends the feed too
                if not await asyncio.to_thread(accounts.still_signed_in, store, who):
                    await websocket.close(code=4401, reason="your session ended: sign in again")
                    return
                checked = time.monotonic()
            cursor, messages, more = await asyncio.to_thread(live_messages, store, cursor)
            if messages:
                await websocket.send_text(orjson.dumps({"last_id": cursor, "messages": messages}).decode())
                if more:
                    continue  # catching up: send the next batch right away
            await asyncio.sleep(TICK_S)

    async def until_closed() -> None:
        # The client only ever closes; noticing it here ends the pump even when nothing is sent.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.create_task(pump()), asyncio.create_task(until_closed())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        failure = tasks[0].exception() if tasks[0] in done and not tasks[0].cancelled() else None
        if failure is not None:
            # Say so (the client reconnects from its last id) rather than dropping the connection.
            log.error("live socket failed: %r", failure)
            await websocket.close(code=1011)
    finally:
        # Not awaited: a pump blocked in a database read finishes on its own, and the
        # handler returns as soon as the client is gone.
        for task in tasks:
            task.cancel()


"""Event ids become visible in order, so a reader that follows the log by id (the live socket,
the grid's marks) misses nothing, even when a slow transaction took an id before a quick one."""

from __future__ import annotations

import threading
import time

from workbench.store.db import utcnow
from workbench.store.event_log import insert_events
from workbench.store.results import add_event, events_after
from workbench.store.schema import events


def test_a_reader_following_ids_misses_no_event_while_writers_overlap(store):
    done = threading.Event()

    def slow_writer():  # takes an id, then holds its transaction open a while
        for _ in range(15):
            with store.engine.begin() as conn:
                insert_events(conn, [{"run_id": None, "type": "test", "payload": "{}", "created_at": utcnow()}])
                time.sleep(0.05)

    def quick_writer():
        while not done.is_set():
            add_event(store, None, "test", {})
            time.sleep(0.005)

    seen: list[int] = []
    cursor = 0
    writers = [threading.Thread(target=slow_writer), threading.Thread(target=quick_writer)]
    for writer in writers:
        writer.start()
    while writers[0].is_alive():
        for event in events_after(store, cursor):
            seen.append(event["id"])
            cursor = event["id"]
        time.sleep(0.002)
    done.set()
    writers[1].join()
    seen += [event["id"] for event in events_after(store, cursor)]
    with store.engine.connect() as conn:
        written = [row[0] for row in conn.execute(events.select().with_only_columns(events.c.id).order_by(events.c.id))]
    assert seen == written and len(seen) > 15

"""The audit log: append-only (the database refuses UPDATE and DELETE, see m010_accounts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa

from workbench.store.db import Store, utcnow
from workbench.store.schema import audit_log


def record(store: Store, *, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None) -> None:
    with store.engine.begin() as conn:
        conn.execute(audit_log.insert().values(at=utcnow(), actor=actor[:200], action=action, target=target[:500],
                                               detail=orjson.dumps(detail or {}).decode()))


def _entry(row) -> dict[str, Any]:
    return {"id": row.id, "at": row.at, "actor": row.actor, "action": row.action, "target": row.target,
            "detail": orjson.loads(row.detail)}


def entries(store: Store, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    with store.engine.connect() as conn:
        return [_entry(r) for r in conn.execute(query)]


def every_entry(store: Store, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Oldest first, in batches (an export of any length in bounded memory)."""
    after = 0
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(sa.select(audit_log).where(audit_log.c.id > after)
                                .order_by(audit_log.c.id).limit(batch)).all()
        if not rows:
            return
        yield from (_entry(r) for r in rows)
        after = rows[-1].id

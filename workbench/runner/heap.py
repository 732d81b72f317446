"""Giving memory that was freed back to the system while a long run goes on.

A run frees as much as it allocates (records read, answers parsed, batches written), but glibc keeps
the freed pages of its heap: holes left between live blocks are never returned on their own. Over a
200K-record run that free space grew from 4 to 15 MB while what was in use stayed ~20 MB (issue #17);
``malloc_trim`` hands those pages back. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

TRIM_EVERY_S = 10.0


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


def trim() -> bool:
    """Return the heap's free pages to the system now; whether any were returned."""
    return bool(_TRIM(0)) if _TRIM is not None else False


async def trim_forever(every_s: float = TRIM_EVERY_S) -> None:
    """Trim at intervals (in a thread: it walks the heap under malloc's lock, a few ms)."""
    if _TRIM is None:
        return
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(trim)
        except Exception as exc:  # noqa: BLE001 - memory is only given back later
            log.debug("malloc_trim failed: %s", exc)

"""What one answer was: the messages sent, the raw answer, and what it cost."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["runs"])

"""(issue #16: judges)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["judges"])

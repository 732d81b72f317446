"""(issue #16: agreement)"""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["agreement"])

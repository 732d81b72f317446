"""The app factory: ``workbench serve`` wraps it, tests call it in-process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from workbench import __version__
from workbench.config import Settings
from workbench.store import Store
from workbench.service.warm_up import warm_up as warm_big_datasets
from workbench.web.activity import ActivityMiddleware, RequestActivity
from workbench.web.boundary import BoundaryMiddleware, LastResortMiddleware
from workbench.web.errors import ERROR_RESPONSES, install_error_handlers
from workbench.runner.manager import RunManager
from workbench.web.routers import annotations as annotation_routes
from workbench.web.routers import agreement, columns, datasets, exports, judges, models, runs, tasks, traces, workbench
from workbench.web.routers import audit, session, users
from workbench.web.access import OPEN, check_every_route, needs
from workbench.web.security import GuardMiddleware, refuse_unprotected_host  # noqa: F401 (re-export)
from workbench.service.workspace import open_workspace


def create_app(settings: Settings, store: Store | None = None, *, execute_runs: bool = True,
               max_runs: int | None = None, warm_up: bool = False) -> FastAPI:
    """The whole app. With ``execute_runs`` it also runs queued runs (and resumes orphaned ones),
    at most ``max_runs`` at once; with ``warm_up`` it counts big datasets and reads their metrics in
    the background as it starts (see service/warm_up.py)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm_up:  # a daemon thread: stopping the server never waits for it
            threading.Thread(target=_warm_in_background, args=(app.state.store, app.state.activity),
                             name="warm-up", daemon=True).start()
        background = asyncio.create_task(app.state.runner.serve_forever()) if execute_runs else None
        try:
            yield
        finally:
            if background is not None:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)

    app = FastAPI(title="Dataset Workbench", version=__version__, docs_url="/docs", lifespan=lifespan,
                  responses=ERROR_RESPONSES)
    app.state.settings = settings
    app.state.store = store or open_workspace(settings)
    app.state.runner = RunManager(app.state.store, max_runs)
    app.state.activity = RequestActivity()
    # Outermost last: the guard (host, token, body size) before the boundary reads a body; the
    # last resort around both.
    app.add_middleware(BoundaryMiddleware)
    app.add_middleware(GuardMiddleware, token=settings.token, allowed_hosts=settings.allowed_hosts,
                       store=app.state.store)
    app.add_middleware(LastResortMiddleware)
    app.add_middleware(ActivityMiddleware, activity=app.state.activity)
    install_error_handlers(app)
    routers = (datasets, models, tasks, runs, traces, columns, workbench, annotation_routes, exports, judges, agreement,
               session, users, audit)
    for router in (r.router for r in routers):
        app.include_router(router, prefix="/api")

    @app.get("/api/health", **needs(OPEN))
    def health() -> dict:
        return {"ok": True, "version": __version__}

    check_every_route(app)

    static_dir = resources.files("workbench") / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return (static_dir / "index.html").read_text(encoding="utf-8")

    return app


def _warm_in_background(store: Store, activity: RequestActivity) -> None:
    """The warm-up at a lower CPU priority (Linux: per thread, and the threads it starts inherit it),
    so that requests coming while it works get the cores first; then its steps wait for quiet."""
    with contextlib.suppress(AttributeError, OSError):  # no os.setpriority, or not allowed: as it is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    warm_big_datasets(store, activity.wait_for_quiet)

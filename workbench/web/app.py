"""The app factory: ``workbench serve`` wraps it, tests call it in-process."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from workbench import __version__
from workbench.config import Settings
from workbench.store import Store
from workbench.web.errors import install_error_handlers
from workbench.web.routers import datasets, models, tasks
from workbench.web.security import TokenMiddleware, refuse_unprotected_host  # noqa: F401 (re-export)
from workbench.workspace import open_workspace


def create_app(settings: Settings, store: Store | None = None) -> FastAPI:
    app = FastAPI(title="Dataset Workbench", version=__version__, docs_url="/docs")
    app.state.settings = settings
    app.state.store = store or open_workspace(settings)
    if settings.token:
        app.add_middleware(TokenMiddleware, token=settings.token)
    install_error_handlers(app)
    for router in (datasets.router, models.router, tasks.router):
        app.include_router(router, prefix="/api")

    @app.get("/api/health")
    def health() -> dict:
        return {"ok": True, "version": __version__}

    static_dir = resources.files("workbench") / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return (static_dir / "index.html").read_text(encoding="utf-8")

    return app

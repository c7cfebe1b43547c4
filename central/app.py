"""The central reference service: a FastAPI app implementing ``central/CONTRACT.md``.

``create_app`` only composes: the shared context (``central.context``), the request guard
(``central.auth``: credentials checked and body sizes bounded before any body is read), the error
answers (``central.responses``) and one router per concern: reads (``dossiers_api``), ratings
(``ratings_api``), ingestion (``ingest_api``), administration (``admin_api``) and the device routes
with the fleet pages (``devices_api``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI

from central import admin_api, devices_api, dossiers_api, feed, ingest_api, ratings_api
from central.auth import Authenticator, RequestGuard
from central.context import CentralContext, vn_now
from central.demo import DemoActivity
from central.ingest import Ingestor
from central.responses import install_error_handlers
from central.schemas import add_model_schemas
from central.settings import CentralServiceSection
from central.store import CentralStore
from dossier.codes import CodeParser
from dossier.errors import InvalidInput

__all__ = ["create_app", "vn_now"]


def create_app(
    settings: CentralServiceSection,
    *,
    db_path: str | Path | None = None,
    now: Callable[[], datetime] = vn_now,
    extra_code_patterns: tuple[str, ...] = (),
    demo: bool = False,
) -> FastAPI:
    """The service over the database at ``db_path`` (default ``settings.db_path``)."""
    path = db_path or settings.db_path
    if not path:
        raise InvalidInput("no database path: set central_service.db_path or pass db_path")
    store = CentralStore(path, change_log_retention=settings.change_log_retention)
    try:
        devices = devices_api.make_router(store, settings, now)
    except BaseException:
        store.close()
        raise
    codes = CodeParser(extra_code_patterns)
    ctx = CentralContext(
        settings=settings,
        store=store,
        codec=feed.CursorCodec(store.epoch, store.cursor_key),
        codes=codes,
        ingestor=Ingestor(store, codes),
        now=now,
        auth=Authenticator(settings.admin_token, devices.device_for_key),  # honours revocations
    )
    activity = (
        DemoActivity(store, settings.demo_activity_seconds, now)
        if demo and settings.demo_activity_seconds > 0
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if activity:
            activity.start()
        try:
            yield
        finally:
            if activity:
                activity.stop()
            store.close()

    app = FastAPI(
        title="motcua-edge central status API",
        version="1",
        description="Reference implementation of central/CONTRACT.md (dossier status for one-stop offices).",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.store = store
    app.state.activity = activity
    app.add_middleware(
        RequestGuard, limit=settings.max_body_bytes, authenticator=lambda: ctx.auth, routes=lambda: app.routes
    )
    install_error_handlers(app)
    for router in (dossiers_api.router, ratings_api.router, admin_api.router, ingest_api.router, devices):
        app.include_router(router)
    add_model_schemas(app)
    return app

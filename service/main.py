"""The FastAPI application: routers, error mapping, CORS and lifecycle in one place."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cds_hooks.models import new_uuid
from service import __version__
from service.api import discovery, feedback, health, hooks, metrics
from service.api.docs import extra_components
from service.cards import IdFactory
from service.clock import Clock, system_clock
from service.config import Settings
from service.http.errors import install_error_handlers
from service.http.middleware import BodySizeLimit, ErrorBoundary
from service.observability.logging import AccessLog, configure_logging
from service.observability.tracing import install_tracing
from service.runtime import Runtime

DESCRIPTION = """\
CDS Hooks 2.0 service that reads a patient's opioid orders and pain scores, computes
daily morphine milligram equivalents (MME), and recognises rising opioid doses together
with rising pain: a pattern consistent with possible opioid-induced hyperalgesia (OIH).
It answers with advisory cards only; it never blocks an order. Every non-2xx answer is
a FHIR OperationOutcome.
"""


#: See _tune_garbage_collector.
GC_YOUNG_THRESHOLD = 100_000


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = system_clock,
    id_factory: IdFactory = new_uuid,
    tune_gc: bool = False,
) -> FastAPI:
    """Build the app; ``clock`` and ``id_factory`` are injectable so tests are reproducible.

    ``tune_gc`` (set by the production factory) changes the process-wide garbage collector
    after start-up; tests, which build many apps in one process, leave it off.
    """
    settings = settings or Settings()
    runtime = Runtime(settings, clock, id_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if tune_gc:
            _tune_garbage_collector()
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(
        title="oih-cds",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.include_router(discovery.router)
    app.include_router(hooks.router)
    app.include_router(feedback.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    if settings.sandbox_enabled:
        from service.sandbox import router as sandbox_router

        app.include_router(sandbox_router)
    install_error_handlers(app)

    # Middleware: the last added is the outermost. CORS must wrap everything so that
    # errors (401, 412, 413, 500) carry CORS headers too.
    app.add_middleware(ErrorBoundary)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AccessLog, metrics=runtime.metrics)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        allow_credentials=False,
        max_age=600,
    )
    _document_raw_body_schemas(app)
    install_tracing(app, settings)
    return app


def create_production_app() -> FastAPI:
    """The factory ``oih-cds serve`` gives uvicorn: JSON logs and a tuned GC per worker."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, tune_gc=True)


def _tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the hook path (bench/PROFILE.md).

    Everything built at start-up (drug tables, value sets, models) lives as long as the
    process: freezing it keeps full collections from rescanning it (one took ~100 ms).
    A hook call's objects are freed by reference counting when it ends; while it runs
    they are alive, so a collection during the call only walks them in vain. The young
    generation is sized above what a heavy call (300 orders, 600 pain scores) holds at
    once, so such calls trigger no collection at all (a heavy call spent ~4 ms in the
    collector with 10,000). Cyclic garbage can then reach ~100,000 container objects
    (~20 MB) before a collection frees it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def _document_raw_body_schemas(app: FastAPI) -> None:
    """Add schemas of bodies read raw (for speed) to the generated OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(extra_components())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Liveness and readiness: cheap, unauthenticated, no patient data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.http.responses import JsonResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process is up")
async def healthz() -> Response:
    return JsonResponse({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness: configuration loaded and dependencies reachable",
    responses={503: {"description": "A dependency is not ready"}},
)
async def readyz(request: Request) -> Response:
    checks = await request.app.state.runtime.readiness()
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not-ready", "checks": checks},
        status_code=200 if ready else 503,
    )

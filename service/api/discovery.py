"""``GET /cds-services``: the services we offer and what to prefetch for each."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cds_hooks.discovery import DiscoveryResponse, ServiceDefinition
from service.api.docs import ERR_401, ERR_500
from service.catalog import SERVICES
from service.http.responses import JsonResponse

router = APIRouter(tags=["discovery"])

_DISCOVERY = DiscoveryResponse(
    services=tuple(
        ServiceDefinition(
            hook=spec.hook,
            id=spec.id,
            title=spec.title,
            description=spec.description,
            prefetch=dict(spec.prefetch),
        )
        for spec in SERVICES.values()
    )
).wire()


@router.get(
    "/cds-services",
    summary="Discovery: list the CDS services",
    responses={200: {"model": DiscoveryResponse}, 401: ERR_401, 500: ERR_500},
)
async def discovery(request: Request) -> Response:
    await request.app.state.runtime.authenticate(request, "/cds-services")
    return JsonResponse(_DISCOVERY)

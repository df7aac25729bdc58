"""``POST /cds-services/{id}/feedback``: what clinicians did with our cards.

Valid items are stored even when others in the same batch are invalid (an Epic batch
must not lose its good items); the answer is then 400 naming the bad ones. Storage is
idempotent, so a client may safely resend.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cds_hooks.feedback import partition_feedback
from service.api.docs import ERR_400, ERR_401, ERR_404, ERR_413, ERR_500, feedback_request_body
from service.api.parsing import decode_json_object, lookup_service
from service.auth import Caller
from service.http.responses import JsonResponse

router = APIRouter(tags=["feedback"])


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Record what clinicians did with the cards (accepted or overridden, and why)",
    description=(
        "Stores each valid item once (re-sending is safe). Accepting the OIH card's "
        "'Document: OIH evaluated, not suspected' suggestion also snoozes that card for "
        "the patient for 90 days (`snooze_days`), unless the deployment has no patient-key "
        "secret."
    ),
    responses={
        200: {"description": "Stored (repeated items are stored once)"},
        400: ERR_400,
        401: ERR_401,
        404: ERR_404,
        413: ERR_413,
        500: ERR_500,
        503: {"description": "The feedback store is unavailable; retry (storage is idempotent)"},
    },
    openapi_extra=feedback_request_body(),
)
async def feedback(service_id: str, request: Request) -> Response:
    runtime = request.app.state.runtime
    caller = await runtime.authenticate(request, f"/cds-services/{service_id}/feedback")
    lookup_service(service_id)
    request.state.log_fields = {"service": service_id}
    body = decode_json_object(await request.body())
    batch = partition_feedback(body)
    iss = caller.iss if isinstance(caller, Caller) else None
    tenant = caller.tenant if isinstance(caller, Caller) else None
    stored = 0
    if batch.valid:
        stored = await runtime.store_feedback(service_id, batch.valid, iss, tenant)
    request.state.log_fields = {
        "service": service_id,
        "feedbackItems": len(batch.valid),
        "feedbackStored": stored,
    }
    if batch.error is not None:
        raise batch.error
    return JsonResponse({"stored": stored, "received": len(batch.valid)})

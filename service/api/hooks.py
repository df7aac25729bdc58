"""``POST /cds-services/{id}`` and its ``/explain`` twin: parse, run the pipeline, render."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from service.api.docs import EXPLAIN_RESPONSES, HOOK_RESPONSES, hook_request_body
from service.api.parsing import parse_hook_call
from service.explain import build_evaluation
from service.http.responses import JsonResponse

router = APIRouter(tags=["hooks"])


@router.post(
    "/cds-services/{service_id}",
    summary="Invoke a CDS service (order-sign, order-select or patient-view)",
    responses=HOOK_RESPONSES,
    openapi_extra=hook_request_body(),
)
async def invoke(service_id: str, request: Request) -> Response:
    runtime = request.app.state.runtime
    caller = await runtime.authenticate(request, f"/cds-services/{service_id}")
    request.state.log_fields = {"service": service_id}
    call = parse_hook_call(service_id, await request.body())
    outcome = await runtime.pipeline.run(call, caller)
    await runtime.record_outcome(request, call, outcome)
    return JsonResponse({"cards": [card.wire() for card in outcome.cards]})


@router.post(
    "/cds-services/{service_id}/explain",
    summary="Invoke a CDS service and also return the evaluation behind its cards",
    description=(
        "Takes exactly the body of the hook call. Returns the cards and an `evaluation` "
        "object with the MME per order and per day, data-quality notes and every rule's "
        "decision with its reason. Same authentication as the hooks."
    ),
    responses=EXPLAIN_RESPONSES,
    openapi_extra=hook_request_body(),
)
async def explain(service_id: str, request: Request) -> Response:
    runtime = request.app.state.runtime
    caller = await runtime.authenticate(request, f"/cds-services/{service_id}/explain")
    request.state.log_fields = {"service": service_id}
    call = parse_hook_call(service_id, await request.body())
    outcome = await runtime.pipeline.run(call, caller)
    await runtime.record_outcome(request, call, outcome, shown=False)
    return JsonResponse(
        {"cards": [card.wire() for card in outcome.cards], "evaluation": build_evaluation(outcome)}
    )

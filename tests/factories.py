"""Small builders for hook requests, with defaults that make a valid call."""

from __future__ import annotations

import copy
import uuid
from typing import Any

EMPTY_BUNDLE: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": []}


def full_prefetch(**overrides: Any) -> dict[str, Any]:
    """Every slot filled: a Patient and empty search results."""
    prefetch: dict[str, Any] = {
        "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"},
        "medicationRequests": copy.deepcopy(EMPTY_BUNDLE),
        "medicationDispenses": copy.deepcopy(EMPTY_BUNDLE),
        "painObservations": copy.deepcopy(EMPTY_BUNDLE),
        "labObservations": copy.deepcopy(EMPTY_BUNDLE),
        "conditions": copy.deepcopy(EMPTY_BUNDLE),
        "encounters": copy.deepcopy(EMPTY_BUNDLE),
        "procedures": copy.deepcopy(EMPTY_BUNDLE),
    }
    prefetch.update(overrides)
    return prefetch


def draft_bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}


def hook_request(
    hook: str = "order-sign",
    *,
    context: dict[str, Any] | None = None,
    prefetch: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"userId": "Practitioner/example", "patientId": "p1"}
    if hook in ("order-sign", "order-select"):
        ctx["draftOrders"] = draft_bundle()
    if hook == "order-select":
        med = {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft"}
        ctx["draftOrders"] = draft_bundle(med)
        ctx["selections"] = ["MedicationRequest/draft-1"]
    if context:
        ctx.update(context)
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": ctx}
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


EXPLAIN_ORDER_FIELDS = frozenset(
    {"reference", "rxnorm", "ingredient", "dailyDose", "factor", "mmePerDay", "problem"}
)


def assert_explain_order(order: dict[str, Any]) -> None:
    """One entry of ``evaluation.mme.orders``: the fields the explain contract promises."""
    assert set(order) >= EXPLAIN_ORDER_FIELDS, sorted(EXPLAIN_ORDER_FIELDS - set(order))
    if order["status"] == "computed":
        assert order["mmePerDay"] is not None
        assert order["problem"] is None
    else:
        assert order["mmePerDay"] is None
    if order["status"] == "not_computed":
        assert order["problem"], "a not-computed order must say why"

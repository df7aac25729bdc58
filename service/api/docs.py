"""Schemas that exist only to document the API in OpenAPI (the wire is built elsewhere)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from cds_hooks.feedback import FeedbackRequest
from cds_hooks.models import CDSRequest, CDSResponse


class OperationOutcomeIssue(BaseModel):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    diagnostics: str
    expression: list[str] | None = None


class OperationOutcome(BaseModel):
    """FHIR R4 OperationOutcome: the body of every non-2xx answer."""

    model_config = ConfigDict(title="OperationOutcome")
    resourceType: Literal["OperationOutcome"]
    issue: list[OperationOutcomeIssue]


class ExplainResponse(BaseModel):
    """The cards, plus everything the service computed to decide them."""

    cards: list[dict[str, Any]]
    evaluation: dict[str, Any]


def _error(description: str) -> dict[str, Any]:
    return {"model": OperationOutcome, "description": description}


ERR_400 = _error("Malformed JSON, wrong hook, missing or invalid context, or bad FHIR in context")
ERR_401 = _error("Missing or invalid CDS Hooks JWT (the reason is logged, not returned)")
ERR_404 = _error("Unknown CDS service id")
ERR_412 = _error(
    "Required data were neither prefetched nor obtainable from an allow-listed fhirServer"
)
ERR_413 = _error("Request body larger than OIH_MAX_BODY_BYTES")
ERR_500 = _error("Unexpected internal error (never caused by input; no internals returned)")

HOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CDSResponse, "description": "Cards (possibly none)"},
    400: ERR_400,
    401: ERR_401,
    404: ERR_404,
    412: ERR_412,
    413: ERR_413,
    500: ERR_500,
}

EXPLAIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **HOOK_RESPONSES,
    200: {"model": ExplainResponse, "description": "Cards and the evaluation behind them"},
}


def hook_request_body() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CDSRequest"}}
            },
        }
    }


def feedback_request_body() -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}
            },
        }
    }


def extra_components() -> dict[str, Any]:
    """JSON Schemas for models that routes read from the raw body (not via FastAPI)."""
    out: dict[str, Any] = {}
    for model in (CDSRequest, FeedbackRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out

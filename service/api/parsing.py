"""Turn a raw hook body into a validated request, or a 400/404 that says what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from cds_hooks.contexts import HookContext, describe_validation_error, parse_context
from cds_hooks.errors import InvalidRequest, MalformedJson, UnknownService
from cds_hooks.models import CDSRequest
from service.catalog import SERVICES, ServiceSpec


@dataclass(frozen=True)
class HookCall:
    spec: ServiceSpec
    request: CDSRequest
    context: HookContext


def lookup_service(service_id: str) -> ServiceSpec:
    spec = SERVICES.get(service_id)
    if spec is None:
        known = ", ".join(SERVICES)
        raise UnknownService(
            f"no CDS service with id {service_id!r}; this server offers: {known}",
            location="id",
        )
    return spec


def decode_json_object(body: bytes) -> dict[str, Any]:
    """Decode the body once (orjson); anything but a JSON object is a 400."""
    if not body:
        raise MalformedJson("the request body is empty; a CDS Hooks request is a JSON object")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return data


def parse_hook_call(service_id: str, body: bytes) -> HookCall:
    spec = lookup_service(service_id)
    data = decode_json_object(body)
    try:
        request = CDSRequest.model_validate(data)
    except ValidationError as exc:
        message, locations = describe_validation_error(exc)
        raise InvalidRequest(message, location=[loc for loc in locations if loc]) from None
    if request.hook != spec.hook:
        raise InvalidRequest(
            f"service {spec.id!r} answers the {spec.hook!r} hook, but the request says "
            f"{request.hook!r}",
            location="hook",
        )
    context = parse_context(request.hook, request.context)
    return HookCall(spec=spec, request=request, context=context)

"""Smoke test of bench/generate.py: sizes, counts and valid hook requests. No servers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from bench.generate import SIZES, build_chart, generate, generate_bytes, request_from_chart
from service.api.parsing import parse_hook_call
from service.catalog import PREFETCH_TEMPLATES
from service.clock import system_clock

AS_OF = system_clock().date()


def _entries(request: dict[str, Any], slot: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in request["prefetch"][slot]["entry"]]


@pytest.mark.parametrize("size", list(SIZES))
def test_generated_request_is_a_valid_order_sign_call(size: str) -> None:
    spec = SIZES[size]
    body = generate_bytes(size, AS_OF)
    call = parse_hook_call("oih-order-sign", body)  # the service's own 400 checks
    request = orjson.loads(body)

    assert call.request.hook == "order-sign"
    assert set(request["prefetch"]) == set(PREFETCH_TEMPLATES)  # full prefetch
    requests = _entries(request, "medicationRequests")
    pain = _entries(request, "painObservations")
    assert len(requests) >= spec.requests
    assert len(pain) >= spec.pain
    assert {o["code"]["coding"][0]["code"] for o in pain} == {"72514-3"}
    assert len({r["status"] for r in requests}) >= (2 if size == "small" else 3)
    assert _entries(request, "conditions")
    assert _entries(request, "encounters")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    assert draft["status"] == "draft"
    if size == "heavy":
        assert len(body) >= 400_000
    # Dates within the year before as_of, none in the future.
    days = [date.fromisoformat(r["authoredOn"][:10]) for r in requests]
    assert min(days) >= AS_OF - timedelta(days=400)
    assert max(days) <= AS_OF
    # A sample of resources is valid R4 (fhir.resources R4B models).
    sample = [request["prefetch"]["patient"], draft, *requests[:5], *pain[:5]]
    for resource in sample:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_generation_is_deterministic_and_relative_to_as_of() -> None:
    assert generate_bytes("small", AS_OF) == generate_bytes("small", AS_OF)
    later = generate("small", AS_OF + timedelta(days=10))
    first = generate("small", AS_OF)
    a = date.fromisoformat(
        first["prefetch"]["medicationRequests"]["entry"][0]["resource"]["authoredOn"][:10]
    )
    b = date.fromisoformat(
        later["prefetch"]["medicationRequests"]["entry"][0]["resource"]["authoredOn"][:10]
    )
    assert (b - a).days == 10


def test_no_prefetch_variant_names_the_fhir_server() -> None:
    chart = build_chart("typical", AS_OF)
    body = request_from_chart(chart, prefetch=False, fhir_server="http://127.0.0.1:1/fhir")
    assert "prefetch" not in body
    assert body["fhirServer"] == "http://127.0.0.1:1/fhir"
    assert "fhirAuthorization" not in body
    parse_hook_call("oih-order-sign", orjson.dumps(body))
    kinds = {r["resourceType"] for r in chart.resources()}
    assert {"Patient", "MedicationRequest", "Observation", "Condition", "Encounter"} <= kinds

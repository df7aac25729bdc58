"""The committed openapi/openapi.json is the app's own document, and it is complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.openapi_export import generate_openapi

COMMITTED = Path(__file__).parents[1] / "openapi" / "openapi.json"


@pytest.fixture(scope="module")
def spec() -> dict:
    return generate_openapi()


def test_committed_spec_matches_the_app(spec: dict) -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == spec, "openapi/openapi.json is stale: run `make openapi` and commit it"


@pytest.mark.parametrize(
    "path", ["/cds-services/{service_id}", "/cds-services/{service_id}/explain"]
)
def test_hook_routes_document_every_status_they_return(spec: dict, path: str) -> None:
    responses = spec["paths"][path]["post"]["responses"]
    assert {"200", "400", "401", "404", "412", "413"} <= set(responses)
    for status in ("400", "401", "404", "412", "413"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/OperationOutcome")


def test_hook_request_body_is_documented(spec: dict) -> None:
    body = spec["paths"]["/cds-services/{service_id}"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    name = ref.rsplit("/", 1)[1]
    assert name == "CDSRequest"
    assert {"hook", "hookInstance", "context"} <= set(
        spec["components"]["schemas"][name]["required"]
    )


def test_spec_is_valid_openapi(spec: dict) -> None:
    from openapi_spec_validator import validate

    validate(spec)

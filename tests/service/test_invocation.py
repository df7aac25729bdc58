"""POST /cds-services/{id}: every validation rule and every error status.

Every non-2xx answer is application/json with an OperationOutcome that says what was
wrong and where; nothing caused by input is ever a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import load_json
from tests.factories import full_prefetch, hook_request

LIB = "cds-hooks/hl7-cds-hooks-library-1.0.1-examples"
SPEC = "cds-hooks/hl7-cds-hooks-2.0.1-spec-examples"


def outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] in ("error", "fatal")
    assert body["issue"][0]["diagnostics"]
    return body["issue"][0]


@pytest.mark.parametrize(
    ("service_id", "hook", "example"),
    [
        ("oih-order-sign", "order-sign", f"{LIB}/order-sign-01-example-r4.json"),
        ("oih-order-select", "order-select", f"{LIB}/order-select-01-example-r4.json"),
        ("oih-patient-view", "patient-view", f"{LIB}/patient-view-01-examples.json"),
    ],
)
def test_hook_library_examples_with_full_prefetch_return_no_cards(
    client: TestClient, service_id: str, hook: str, example: str
) -> None:
    body = hook_request(hook, prefetch=full_prefetch())
    body["context"] = load_json(example)["context"]
    response = client.post(f"/cds-services/{service_id}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}


def test_spec_patient_view_example_is_accepted_with_its_prefetch_completed(
    client: TestClient,
) -> None:
    body = load_json(f"{SPEC}/spec201-02-request-patient-view.json")
    body["prefetch"] = {**full_prefetch(), **body.get("prefetch", {})}
    response = client.post("/cds-services/oih-patient-view", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}


def test_malformed_json_is_400(client: TestClient) -> None:
    issue = outcome(client.post("/cds-services/oih-order-sign", content=b'{"hook": '), 400)
    assert "not valid JSON" in issue["diagnostics"]


@pytest.mark.parametrize("body", [b"", b"[]", b"42", b'"text"'])
def test_body_that_is_not_a_json_object_is_400(client: TestClient, body: bytes) -> None:
    outcome(client.post("/cds-services/oih-order-sign", content=body), 400)


def test_wrong_hook_for_the_service_is_400(client: TestClient) -> None:
    body = hook_request("patient-view", prefetch=full_prefetch())
    issue = outcome(client.post("/cds-services/oih-order-sign", json=body), 400)
    assert issue["expression"] == ["hook"]
    assert "order-sign" in issue["diagnostics"]


@pytest.mark.parametrize("field", ["hook", "hookInstance", "context"])
def test_missing_required_request_field_is_400_naming_it(client: TestClient, field: str) -> None:
    body = hook_request(prefetch=full_prefetch())
    del body[field]
    issue = outcome(client.post("/cds-services/oih-order-sign", json=body), 400)
    assert field in issue["expression"]


def test_missing_context_field_is_400_with_its_location(client: TestClient) -> None:
    body = hook_request(prefetch=full_prefetch())
    del body["context"]["draftOrders"]
    issue = outcome(client.post("/cds-services/oih-order-sign", json=body), 400)
    assert issue["expression"] == ["context.draftOrders"]


def test_fhir_authorization_without_fhir_server_is_400(client: TestClient) -> None:
    body = hook_request(
        prefetch=full_prefetch(),
        fhirAuthorization={
            "access_token": "secret-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "oih",
        },
    )
    issue = outcome(client.post("/cds-services/oih-order-sign", json=body), 400)
    assert "fhirServer is required" in issue["diagnostics"]
    assert "secret-token" not in str(issue)


def test_invalid_fhir_server_is_400(client: TestClient) -> None:
    body = hook_request(prefetch=full_prefetch(), fhirServer="ftp://ehr")
    issue = outcome(client.post("/cds-services/oih-order-sign", json=body), 400)
    assert issue["expression"] == ["fhirServer"]


def test_unknown_service_is_404(client: TestClient) -> None:
    issue = outcome(client.post("/cds-services/no-such-service", json=hook_request()), 404)
    assert "oih-order-sign" in issue["diagnostics"]


def test_unknown_route_and_wrong_method_are_operation_outcomes(client: TestClient) -> None:
    outcome(client.get("/nothing-here"), 404)
    outcome(client.get("/cds-services/oih-order-sign"), 405)


def test_no_prefetch_and_no_fhir_server_is_412_naming_the_slots(client: TestClient) -> None:
    issue = outcome(client.post("/cds-services/oih-order-sign", json=hook_request()), 412)
    assert "prefetch.medicationRequests" in issue["expression"]
    assert "prefetch.patient" in issue["expression"]
    assert "no fhirServer" in issue["diagnostics"]


def test_partial_prefetch_without_fhir_server_is_412_naming_only_missing(
    client: TestClient,
) -> None:
    prefetch = full_prefetch()
    del prefetch["conditions"]
    prefetch["encounters"] = {"resourceType": "OperationOutcome", "issue": []}
    issue = outcome(
        client.post(
            "/cds-services/oih-patient-view", json=hook_request("patient-view", prefetch=prefetch)
        ),
        412,
    )
    assert issue["expression"] == ["prefetch.conditions", "prefetch.encounters"]


def test_null_prefetch_slot_means_no_data_not_missing(client: TestClient) -> None:
    prefetch = full_prefetch(medicationDispenses=None, conditions=None)
    response = client.post(
        "/cds-services/oih-patient-view", json=hook_request("patient-view", prefetch=prefetch)
    )
    assert response.status_code == 200, response.text


def test_body_over_the_limit_is_413_by_header(client: TestClient) -> None:
    limit = client.app.state.runtime.settings.max_body_bytes  # type: ignore[attr-defined]
    issue = outcome(client.post("/cds-services/oih-order-sign", content=b" " * (limit + 1)), 413)
    assert "OIH_MAX_BODY_BYTES" in issue["diagnostics"]


def test_body_over_the_limit_is_413_when_streamed_without_length(client: TestClient) -> None:
    limit = client.app.state.runtime.settings.max_body_bytes  # type: ignore[attr-defined]

    def chunks() -> Any:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    outcome(client.post("/cds-services/oih-order-sign", content=chunks()), 413)


def test_explain_returns_cards_and_evaluation(client: TestClient) -> None:
    body = hook_request(prefetch=full_prefetch())
    response = client.post("/cds-services/oih-order-sign/explain", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["cards"] == []
    assert payload["evaluation"]["service"] == "oih-order-sign"
    assert payload["evaluation"]["data"]["slots"]["patient"] == "present"


def test_explain_applies_the_same_validation(client: TestClient) -> None:
    outcome(client.post("/cds-services/oih-order-sign/explain", content=b"nope"), 400)
    outcome(client.post("/cds-services/oih-order-sign/explain", json=hook_request()), 412)

"""GET /cds-services lists our three services with valid prefetch templates."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient

from cds_hooks.prefetch import is_allowed_token, template_tokens


def test_lists_three_services_one_per_hook(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    services = response.json()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("oih-order-sign", "order-sign"),
        ("oih-order-select", "order-select"),
        ("oih-patient-view", "patient-view"),
    }
    for service in services:
        assert service["title"]
        assert "hyperalgesia" in service["description"] or "MME" in service["description"]
        assert "Advisory only" in service["description"]


def test_prefetch_covers_everything_the_rules_read(client: TestClient) -> None:
    for service in client.get("/cds-services").json()["services"]:
        resource_types = {urlsplit(t).path.split("/")[0] for t in service["prefetch"].values()}
        assert {
            "Patient",
            "MedicationRequest",
            "MedicationDispense",
            "Observation",
            "Condition",
            "Encounter",
        } <= resource_types
        pain = service["prefetch"]["painObservations"]
        assert "http://loinc.org|72514-3" in pain
        assert "http://loinc.org|91147-9" in pain


def test_prefetch_templates_use_valid_fhir_search_and_only_allowed_tokens(
    client: TestClient,
) -> None:
    for service in client.get("/cds-services").json()["services"]:
        for key, template in service["prefetch"].items():
            assert all(is_allowed_token(t) for t in template_tokens(template)), key
            assert "sort:desc" not in template
            parts = urlsplit(template)
            assert not parts.scheme, "templates are relative URLs"
            assert not parts.netloc
            assert re.fullmatch(r"[A-Z][A-Za-z]+(/\{\{context\.patientId\}\})?", parts.path)
            for name, value in parse_qsl(parts.query, keep_blank_values=True):
                assert value, f"{key}: empty value for {name}"
                if name == "_sort":
                    assert re.fullmatch(r"-?[a-z\-]+", value)
                if name == "_count":
                    assert value.isdigit()


def test_discovery_output_has_no_null_or_empty_values(client: TestClient) -> None:
    def walk(value: object) -> None:
        assert value not in (None, "", [], {})
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(client.get("/cds-services").json())

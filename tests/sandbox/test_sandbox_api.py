"""The sandbox page and its JSON API: self-contained page, valid hook requests, off by default."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.parsing import parse_hook_call
from service.catalog import PREFETCH_TEMPLATES
from service.config import AuthMode, Settings
from service.main import create_app
from service.sandbox.api import CONTENT_SECURITY_POLICY, STATIC_FILES
from service.scenarios import list_scenarios

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
ESCALATING_DRAFT: dict[str, object] = {
    "drug": "oxycodone-30mg-tab",
    "dose": "1 tab",
    "freq": "6/d",
    "days": 30,
}
SERVICE_FOR = {
    "order-sign": "oih-order-sign",
    "order-select": "oih-order-select",
    "patient-view": "oih-patient-view",
}


def _settings(tmp_path: Path, *, sandbox: bool) -> Settings:
    return Settings(
        auth_mode=AuthMode.DISABLED, data_dir=tmp_path, sandbox_enabled=sandbox, _env_file=None
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(_settings(tmp_path, sandbox=True), clock=lambda: NOW)
    with TestClient(app) as test_client:
        yield test_client


# --------------------------------------------------------------------------- the page


def _assets(client: TestClient) -> dict[str, str]:
    """The page and every file it loads, directly or through ES module imports."""
    page = client.get("/sandbox").text
    found = {"/sandbox": page}
    queue = re.findall(r'(?:src|href)="(/sandbox/static/[^"]+)"', page)
    while queue:
        path = queue.pop()
        if path in found:
            continue
        response = client.get(path)
        assert response.status_code == 200, path
        found[path] = response.text
        for name in re.findall(r'from\s+"\./([\w.-]+)"', response.text):
            queue.append(f"/sandbox/static/{name}")
    return found


def test_page_renders_as_html_with_a_strict_content_security_policy(client: TestClient) -> None:
    response = client.get("/sandbox")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    html = response.text
    assert '<html lang="en">' in html
    assert '<script type="module" src="/sandbox/static/sandbox.js">' in html
    for control in ("scenario", "drug", "dose", "freq", "days"):  # every input is labelled
        assert f'for="{control}"' in html
    for hook in ("order-sign", "order-select", "patient-view"):
        assert f'data-hook="{hook}"' in html


def test_page_and_assets_reference_nothing_outside_the_service(client: TestClient) -> None:
    assets = _assets(client)
    assert set(assets) >= {"/sandbox", *(f"/sandbox/static/{name}" for name in STATIC_FILES)}
    for path, text in assets.items():
        assert not re.search(r"https?://", text, re.IGNORECASE), f"absolute URL in {path}"
        assert not re.search(r"""(?:src|href|action)\s*=\s*["']//""", text), path
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", text), path
        assert "@import" not in text, path
        assert not re.search(r"cdn\.|jsdelivr|unpkg|googleapis", text, re.IGNORECASE), path


def test_static_files_have_their_types_and_others_are_404(client: TestClient) -> None:
    assert (
        client.get("/sandbox/static/sandbox.js")
        .headers["content-type"]
        .startswith("text/javascript")
    )
    assert client.get("/sandbox/static/sandbox.css").headers["content-type"].startswith("text/css")
    for name in ("index.html", "../api.py", "missing.js"):
        response = client.get(f"/sandbox/static/{name}")
        assert response.status_code == 404
        assert response.json()["resourceType"] == "OperationOutcome"


def test_sandbox_routes_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/sandbox")]


@pytest.mark.parametrize("path", ["/sandbox", "/sandbox/api/scenarios", "/sandbox/static/x.js"])
def test_sandbox_is_404_when_disabled(tmp_path: Path, path: str) -> None:
    app = create_app(_settings(tmp_path, sandbox=False), clock=lambda: NOW)
    with TestClient(app) as test_client:
        response = test_client.get(path)
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


# --------------------------------------------------------------------------- catalogue


def test_scenarios_come_from_the_library_with_their_stories(client: TestClient) -> None:
    items = client.get("/sandbox/api/scenarios").json()["scenarios"]
    library = list_scenarios()
    assert [i["name"] for i in items] == [s.name for s in library]
    by_name = {i["name"]: i for i in items}
    for info in library:
        assert by_name[info.name]["story"] == info.story
        assert by_name[info.name]["expect"] == info.expect


def test_drug_picker_lists_opioids_with_rxcuis(client: TestClient) -> None:
    body = client.get("/sandbox/api/drugs").json()
    drugs = {d["key"]: d for d in body["drugs"]}
    assert drugs["oxycodone-5mg-tab"]["rxcui"] == "1049621"
    assert all(re.fullmatch(r"\d+", d["rxcui"]) and d["doseUnits"] for d in drugs.values())
    assert not any("ibuprofen" in key or "naloxone" in key for key in drugs)
    assert {"4/d", "1/72h"} <= {f["code"] for f in body["frequencies"]}


# --------------------------------------------------------------------------- requests


@pytest.mark.parametrize("hook", ["order-sign", "order-select", "patient-view"])
def test_request_builder_returns_a_valid_hook_request(client: TestClient, hook: str) -> None:
    spec: dict[str, object] = {"scenario": "classic-oih", "hook": hook}
    if hook != "patient-view":
        spec["draft"] = ESCALATING_DRAFT
    response = client.post("/sandbox/api/request", json=spec)
    assert response.status_code == 200
    body = response.json()
    call = parse_hook_call(SERVICE_FOR[hook], json.dumps(body).encode())  # the service's parser
    assert call.request.hook == hook
    assert body["context"]["patientId"] == "classic-oih"
    assert set(body["prefetch"]) == set(PREFETCH_TEMPLATES)
    if hook != "patient-view":
        draft = body["context"]["draftOrders"]["entry"][0]["resource"]
        assert draft["status"] == "draft"
        assert draft["medicationCodeableConcept"]["coding"][0]["code"] == "1049618"
        assert draft["dosageInstruction"][0]["timing"]["repeat"]["frequency"] == 6
    if hook == "order-select":
        assert body["context"]["selections"] == [f"MedicationRequest/{draft['id']}"]
    # ...and the real endpoint accepts it, as it would from the browser.
    answered = client.post(f"/cds-services/{SERVICE_FOR[hook]}", json=body)
    assert answered.status_code == 200
    assert isinstance(answered.json()["cards"], list)


def test_request_builder_can_leave_out_prefetch_and_the_draft(client: TestClient) -> None:
    body = client.post(
        "/sandbox/api/request",
        json={
            "scenario": "classic-oih",
            "hook": "order-sign",
            "withoutDraft": True,
            "prefetch": False,
        },
    ).json()
    assert "prefetch" not in body
    assert body["context"]["draftOrders"] == {"resourceType": "Bundle", "entry": []}


@pytest.mark.parametrize(
    ("spec", "status", "words"),
    [
        ({"scenario": "no-such-patient", "hook": "order-sign"}, 404, "no scenario"),
        (
            {"scenario": "classic-oih", "draft": {**ESCALATING_DRAFT, "dose": "1 bucket"}},
            400,
            "dose",
        ),
        ({"scenario": "classic-oih", "draft": {**ESCALATING_DRAFT, "drug": "x"}}, 400, "drug"),
        ({"scenario": "classic-oih", "hook": "order-select"}, 400, "no draft"),
        ({"scenario": "classic-oih", "hook": "appointment-book"}, 400, "hook"),
    ],
)
def test_request_builder_errors_are_operation_outcomes(
    client: TestClient, spec: dict[str, object], status: int, words: str
) -> None:
    response = client.post("/sandbox/api/request", json=spec)
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"]


def test_preview_gives_the_chart_series_and_the_drafts_projection(client: TestClient) -> None:
    body = client.post(
        "/sandbox/api/preview", json={"scenario": "classic-oih", "draft": ESCALATING_DRAFT}
    ).json()
    assert body["asOf"] == "2026-11-23"
    assert body["patient"] | {"id": "classic-oih", "age": 54, "sex": "female"} == body["patient"]
    steps = [s["mmePerDay"] for s in body["mme"]["steps"]]
    assert [v for i, v in enumerate(steps) if i == 0 or v != steps[i - 1]] == [0, 30, 60, 120]
    assert body["mme"]["current"] == 120
    assert [p["value"] for p in body["pain"]] == [5, 5, 5, 6, 7, 8, 8]
    assert body["draft"]["projected"] > body["mme"]["current"]
    assert body["scenario"]["suggestedDraft"]["drug"] == "oxycodone-20mg-tab"

    without = client.post("/sandbox/api/preview", json={"scenario": "classic-oih"}).json()
    assert without["draft"] is None


def test_preview_counts_what_the_rules_count(client: TestClient) -> None:
    """The chart of a MOUD methadone titration shows no MME, as the rules see it."""
    body = client.post("/sandbox/api/preview", json={"scenario": "methadone-oud-reason"}).json()
    assert body["mme"]["current"] == 0
    assert {s["mmePerDay"] for s in body["mme"]["steps"]} == {0}


# --------------------------------------------------------------------------- snoozes


def _fire_from_page(client: TestClient, scenario: str, path: str = "") -> dict[str, Any]:
    """What the page does: build the body through the sandbox API, post it to the service."""
    spec = {"scenario": scenario, "hook": "patient-view"}
    body = client.post("/sandbox/api/request", json=spec).json()
    response = client.post(f"/cds-services/oih-patient-view{path}", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _topics(result: dict[str, Any]) -> set[str]:
    return {card["source"]["topic"]["code"] for card in result["cards"]}


def _snooze_oih_card(client: TestClient, scenario: str) -> None:
    cards = _fire_from_page(client, scenario)["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "oih-evaluate")
    document = next(s for s in card["suggestions"] if s["label"].startswith("Document:"))
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": document["uuid"]}],
        "outcomeTimestamp": NOW.isoformat(),
    }
    response = client.post("/cds-services/oih-patient-view/feedback", json={"feedback": [item]})
    assert response.status_code == 200, response.text


def test_clearing_a_scenario_patients_snooze_brings_its_card_back(client: TestClient) -> None:
    _snooze_oih_card(client, "classic-oih")
    _snooze_oih_card(client, "fentanyl-patch-escalation")
    assert "oih-evaluate" not in _topics(_fire_from_page(client, "classic-oih"))
    evaluation = _fire_from_page(client, "classic-oih", "/explain")["evaluation"]
    assert evaluation["snoozed"] == [{"topic": "oih-evaluate", "until": "2027-02-21"}]

    response = client.post("/sandbox/api/snoozes/clear", json={"scenario": "classic-oih"})
    assert response.status_code == 200
    assert response.json() == {"cleared": 1, "snoozing": True}

    assert "oih-evaluate" in _topics(_fire_from_page(client, "classic-oih"))
    assert "snoozed" not in _fire_from_page(client, "classic-oih", "/explain")["evaluation"]
    # Only that patient's snooze went.
    assert "oih-evaluate" not in _topics(_fire_from_page(client, "fentanyl-patch-escalation"))
    again = client.post("/sandbox/api/snoozes/clear", json={"scenario": "classic-oih"})
    assert again.json() == {"cleared": 0, "snoozing": True}


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({"scenario": "no-such-scenario"}, 404),
        ({"scenario": "classic-oih", "patient": "someone-else"}, 400),
        ({"scenario": "classic-oih", "fhirServer": "https://ehr.example/fhir"}, 400),
        ({}, 400),
    ],
)
def test_clearing_snoozes_names_only_a_scenario(
    client: TestClient, spec: dict[str, str], status: int
) -> None:
    response = client.post("/sandbox/api/snoozes/clear", json=spec)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_clearing_snoozes_is_404_when_the_sandbox_is_off(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, sandbox=False), clock=lambda: NOW)
    with TestClient(app) as test_client:
        response = test_client.post("/sandbox/api/snoozes/clear", json={"scenario": "classic-oih"})
    assert response.status_code == 404

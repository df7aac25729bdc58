"""The explain endpoint on real-world shapes: Synthea patients and Hook Library examples.

Synthea's pain scores are random (no OIH signal), so no Synthea patient may produce an
OIH card; every one must still come back with the MME fields integration engineers use.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rules.cards import RULES
from service.config import Settings
from service.main import create_app
from tests.conftest import DATA, load_json
from tests.factories import assert_explain_order, full_prefetch, hook_request

SYNTHEA = DATA / "synthea"
MANIFEST = list(csv.DictReader((SYNTHEA / "MANIFEST.csv").open(encoding="utf-8")))
SLOT_OF = {
    "MedicationRequest": "medicationRequests",
    "MedicationDispense": "medicationDispenses",
    "Observation": "painObservations",
    "Condition": "conditions",
    "Encounter": "encounters",
    "Procedure": "procedures",
    "Medication": "medicationRequests",
}
OIH_TOPICS = {"oih-evaluate", "consider-rotation"}


def prefetch_from_bundle(bundle: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Split a Synthea transaction Bundle into prefetch slots, as an EHR would send them."""
    prefetch = full_prefetch()
    patient_id = ""
    for entry in bundle["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        if kind == "Patient":
            prefetch["patient"] = resource
            patient_id = resource["id"]
        elif kind in SLOT_OF:
            prefetch[SLOT_OF[kind]]["entry"].append({"resource": resource})
    return patient_id, prefetch


def as_of_for(row: dict[str, str]) -> date:
    """Evaluate each patient on the day of their last opioid order, so history is in range."""
    last = datetime.fromisoformat(row["last_opioid_authoredOn"])
    return last.astimezone(UTC).date()


@pytest.fixture
def client_at(tmp_path: Path) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(day: date) -> TestClient:
        now = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        settings = Settings(auth_mode="disabled", data_dir=tmp_path, _env_file=None)
        client = TestClient(create_app(settings, clock=lambda: now))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize("row", MANIFEST, ids=[r["file"].split("_")[0] for r in MANIFEST])
def test_synthea_patient_explains_mme_and_gets_no_oih_card(
    row: dict[str, str], client_at: Any
) -> None:
    bundle = json.loads((SYNTHEA / row["file"]).read_text(encoding="utf-8"))
    patient_id, prefetch = prefetch_from_bundle(bundle)
    body = hook_request("patient-view", prefetch=prefetch)
    body["context"]["patientId"] = patient_id
    response = client_at(as_of_for(row)).post("/cds-services/oih-patient-view/explain", json=body)
    assert response.status_code == 200, response.text[:500]
    payload = response.json()
    topics = {card["source"]["topic"]["code"] for card in payload["cards"]}
    assert not topics & OIH_TOPICS, f"random Synthea pain must not look like OIH: {topics}"
    mme = payload["evaluation"]["mme"]
    assert {"current", "complete", "orders", "timeline"} <= set(mme)
    assert int(row["n_opioid_medicationrequests"]) == 0 or mme["orders"]
    for order in mme["orders"]:
        assert_explain_order(order)


def test_synthea_captopril_trap_is_counted_as_hydrocodone(client_at: Any) -> None:
    """RxCUI 833036 is APAP/hydrocodone in RxNorm although Synthea labels it captopril."""
    row = next(r for r in MANIFEST if r["file"].startswith("Alejandro_Riojas"))
    bundle = json.loads((SYNTHEA / row["file"]).read_text(encoding="utf-8"))
    patient_id, prefetch = prefetch_from_bundle(bundle)
    body = hook_request("patient-view", prefetch=prefetch)
    body["context"]["patientId"] = patient_id
    payload = (
        client_at(as_of_for(row)).post("/cds-services/oih-patient-view/explain", json=body).json()
    )
    (order,) = [o for o in payload["evaluation"]["mme"]["orders"] if o["rxnorm"] == "833036"]
    assert order["ingredient"].lower() == "hydrocodone"


LIB = "cds-hooks/hl7-cds-hooks-library-1.0.1-examples"


@pytest.mark.parametrize(
    ("hook", "example"),
    [
        ("order-sign", "order-sign-01-example-r4.json"),
        ("order-sign", "order-sign-02-example-stu3.json"),
        ("order-select", "order-select-01-example-r4.json"),
        ("order-select", "order-select-02-example-stu3.json"),
        ("patient-view", "patient-view-01-examples.json"),
    ],
)
def test_hook_library_examples_explain(hook: str, example: str, client_at: Any) -> None:
    body = hook_request(hook, prefetch=full_prefetch())
    body["context"] = load_json(f"{LIB}/{example}")["context"]
    client = client_at(date(2026, 11, 23))
    response = client.post(f"/cds-services/oih-{hook}/explain", json=body)
    assert response.status_code == 200, response.text[:500]
    evaluation = response.json()["evaluation"]
    assert evaluation["mme"]["unit"] == "{MME}/d"
    assert len(evaluation["rules"]) == len(RULES)
    for order in evaluation["mme"]["orders"]:
        assert order["source"] == "draft"


@pytest.mark.parametrize(
    "example", ["order-sign-03-example-dstu2.json", "order-select-03-example-dstu2.json"]
)
def test_dstu2_drafts_get_a_clear_answer_that_r4_is_required(example: str, client_at: Any) -> None:
    hook = example.split("-0")[0]
    body = hook_request(hook, prefetch=full_prefetch())
    body["context"] = load_json(f"{LIB}/{example}")["context"]
    response = client_at(date(2026, 11, 23)).post(f"/cds-services/oih-{hook}", json=body)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert "R4" in issue["diagnostics"]
    assert issue["expression"][0].startswith("context.draftOrders.entry[")

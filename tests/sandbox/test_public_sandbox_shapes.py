"""Replay what the public CDS Hooks Sandbox (sandbox.cds-hooks.org) really sends.

Shapes from docs/cds-hooks.md §3.1: no ``encounterId``, no ``fhirAuthorization``,
``draftOrders`` without ``Bundle.type``, a loose R4 draft (``category`` as one object,
``reasonCode`` as one concept, no ``intent``), a DSTU2 ``MedicationOrder`` by default,
ES384 JWTs with ``jku`` and without ``tenant``/``sub``, feedback reasons without
``display``, and CORS preflights from its origin. The Sandbox's private key is public
but is not fetched: Sandbox-shaped tokens are signed with a key made here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm

from service.auth.issuers import SANDBOX_JKU, sandbox_issuer
from service.config import SANDBOX_ISSUER, SANDBOX_ORIGIN, AuthMode, Settings
from service.main import create_app
from service.scenarios import build_prefetch

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
AS_OF = NOW.date()
PUBLIC = "https://oih-tunnel.example.test"  # what the tester typed into the Sandbox
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
JWKS_FIXTURE = Path(__file__).parents[1] / "data/cds-hooks/cds-hooks-sandbox/sandbox-jwks.json"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def loose_r4_draft() -> dict[str, Any]:
    """The Sandbox's Rx form after picking oxycodone 30 mg, 1 pill 6 times a day, 30 days."""
    return {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "subject": {"reference": "Patient/classic-oih"},
        "authoredOn": AS_OF.isoformat(),
        "medicationCodeableConcept": {
            "text": "Oxycodone Hydrochloride 30 MG Oral Tablet",
            "coding": [{"system": RXNORM, "code": "1049618", "display": "Oxycodone 30 MG"}],
        },
        "dosageInstruction": [
            {
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": 1,
                            "system": "http://unitsofmeasure.org",
                            "code": "{pill}",
                        }
                    }
                ],
                "timing": {"repeat": {"frequency": 6, "period": 1, "periodUnit": "d"}},
            }
        ],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days"}},
        "category": {"coding": [{"code": "outpatient"}]},  # a single object: invalid R4
        "reasonCode": {"text": "Chronic pain"},  # a single concept, not a list
    }


def sandbox_request(hook: str, draft: dict[str, Any] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "userId": "Practitioner/COREPRACTITIONER1",
        "patientId": "classic-oih",
    }
    if hook in ("order-sign", "order-select"):
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "entry": [{"resource": draft or loose_r4_draft()}],
        }
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/request-123"]
    return {
        "hookInstance": str(uuid.uuid4()),
        "hook": hook,
        "fhirServer": "https://launch.smarthealthit.org/v/r4/fhir",
        "context": context,
        "prefetch": build_prefetch("classic-oih", AS_OF),
    }


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "auth_mode": AuthMode.DISABLED,
        "data_dir": tmp_path,
        "public_base_url": PUBLIC,
        "cors_origins": [SANDBOX_ORIGIN],
        "_env_file": None,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path), clock=lambda: NOW)) as test_client:
        yield test_client


# --------------------------------------------------------------------------- request shapes


@pytest.mark.parametrize(
    ("hook", "service"), [("order-sign", "oih-order-sign"), ("order-select", "oih-order-select")]
)
def test_loose_r4_sandbox_drafts_are_accepted_and_counted(
    client: TestClient, hook: str, service: str
) -> None:
    body = sandbox_request(hook)
    assert "encounterId" not in body["context"]
    assert "fhirAuthorization" not in body
    assert "type" not in body["context"]["draftOrders"]
    response = client.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 200, response.text
    topics = {c["source"].get("topic", {}).get("code") for c in response.json()["cards"]}
    assert "oih-evaluate" in topics
    assert all(card.get("uuid") for card in response.json()["cards"])  # Dismiss needs it

    explained = client.post(f"/cds-services/{service}/explain", json=body).json()["evaluation"]
    # 1 pill x 6/day of 30 mg oxycodone = 180 mg x 1.5 = 270 MME/day with the draft.
    assert explained["mme"]["current"] == pytest.approx(270)
    assert explained["mme"]["withoutDrafts"] == pytest.approx(120)


def test_patient_view_without_encounter_or_authorization(client: TestClient) -> None:
    response = client.post("/cds-services/oih-patient-view", json=sandbox_request("patient-view"))
    assert response.status_code == 200
    assert response.json()["cards"]


def test_dstu2_medication_order_draft_is_a_clear_400(client: TestClient) -> None:
    dstu2 = {
        "resourceType": "MedicationOrder",
        "id": "order-123",
        "status": "draft",
        "patient": {"reference": "Patient/smart-1288992"},
        "dateWritten": AS_OF.isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1049621"}]},
        "dosageInstruction": [
            {
                "doseQuantity": {"value": 1},
                "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnits": "d"}},
            }
        ],
    }
    body = sandbox_request("order-sign", dstu2)
    body["fhirServer"] = "https://launch.smarthealthit.org/v/r2/fhir"
    response = client.post("/cds-services/oih-order-sign", json=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "R4" in issue["diagnostics"]
    assert "MedicationOrder" in issue["diagnostics"]


def test_feedback_reason_without_display_is_accepted(client: TestClient) -> None:
    cards = client.post(
        "/cds-services/oih-patient-view", json=sandbox_request("patient-view")
    ).json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "oih-evaluate")
    reason = card["overrideReasons"][0]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}},
                "outcomeTimestamp": NOW.isoformat().replace("+00:00", "Z"),
            }
        ]
    }
    response = client.post("/cds-services/oih-patient-view/feedback", json=feedback)
    assert 200 <= response.status_code < 300, response.text


# --------------------------------------------------------------------------- CORS


@pytest.mark.parametrize(
    "path",
    [
        "/cds-services",
        "/cds-services/oih-order-sign",
        "/cds-services/oih-order-sign/feedback",
        "/cds-services/oih-order-sign/explain",
    ],
)
def test_preflight_from_the_sandbox_origin_answers_2xx_with_cors_headers(
    client: TestClient, path: str
) -> None:
    response = client.options(
        path,
        headers={
            "Origin": SANDBOX_ORIGIN,
            "Access-Control-Request-Method": "POST" if path != "/cds-services" else "GET",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert 200 <= response.status_code < 300
    assert response.headers["access-control-allow-origin"] == SANDBOX_ORIGIN
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "POST" in response.headers["access-control-allow-methods"]


# --------------------------------------------------------------------------- JWT


def sandbox_token(key: Any, aud: str, *, kid: str = SANDBOX_KID) -> str:
    """Exactly the Sandbox's header and claims: ES384, jku, no tenant, no sub."""
    now = int(time.time())
    claims = {
        "iss": SANDBOX_ISSUER,
        "aud": aud,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    headers = {"typ": "JWT", "kid": kid, "jku": SANDBOX_JKU}
    return jwt.encode(claims, key, algorithm="ES384", headers=headers)


@pytest.fixture(scope="module")
def stand_in_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _auth_client(tmp_path: Path, **overrides: Any) -> TestClient:
    settings = _settings(tmp_path, auth_mode=AuthMode.REQUIRED, **overrides)
    return TestClient(create_app(settings, clock=lambda: NOW))


def test_sandbox_shaped_es384_token_is_accepted_from_a_trusted_issuers_file(
    tmp_path: Path, stand_in_key: ec.EllipticCurvePrivateKey
) -> None:
    jwk = json.loads(ECAlgorithm.to_jwk(stand_in_key.public_key())) | {
        "kid": SANDBOX_KID,
        "use": "sig",
    }
    issuers = tmp_path / "issuers.yaml"
    issuers.write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {
                        "iss": SANDBOX_ISSUER,
                        "jwks": {"keys": [jwk]},
                        "algorithms": ["ES384"],
                        "jku": [SANDBOX_JKU],
                    }
                ]
            }
        ),
        "utf-8",
    )
    with _auth_client(tmp_path, trusted_issuers_file=issuers) as client:
        discovery = client.get(
            "/cds-services",
            headers={
                "Authorization": f"Bearer {sandbox_token(stand_in_key, f'{PUBLIC}/cds-services')}"
            },
        )
        assert discovery.status_code == 200
        assert discovery.json()["services"]
        aud = f"{PUBLIC}/cds-services/oih-order-sign"  # the public URL, not request.url
        token = sandbox_token(stand_in_key, aud)
        body = sandbox_request("order-sign")
        ok = client.post(
            "/cds-services/oih-order-sign", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200, ok.text
        replayed = client.post(
            "/cds-services/oih-order-sign", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert replayed.status_code == 401  # same jti
        wrong_aud = sandbox_token(stand_in_key, "http://testserver/cds-services/oih-order-sign")
        rejected = client.post(
            "/cds-services/oih-order-sign",
            json=body,
            headers={"Authorization": f"Bearer {wrong_aud}", "Origin": SANDBOX_ORIGIN},
        )
        assert rejected.status_code == 401
        assert rejected.headers["access-control-allow-origin"] == SANDBOX_ORIGIN  # CORS on errors
        assert rejected.json()["resourceType"] == "OperationOutcome"


def test_sandbox_issuer_is_trusted_only_when_enabled(
    tmp_path: Path, stand_in_key: ec.EllipticCurvePrivateKey
) -> None:
    aud = f"{PUBLIC}/cds-services/oih-order-sign"
    body = sandbox_request("order-sign")
    # Not enabled (and no issuer file may list it): a Sandbox token is refused. Auth
    # "required" needs some issuer, so trust an unrelated one.
    other = tmp_path / "other.yaml"
    other_jwk = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key()))
    other.write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {
                        "iss": "https://ehr.example.test",
                        "jwks": {"keys": [other_jwk | {"kid": "k"}]},
                    }
                ]
            }
        ),
        "utf-8",
    )
    with _auth_client(tmp_path, trusted_issuers_file=other) as client:
        headers = {"Authorization": f"Bearer {sandbox_token(stand_in_key, aud)}"}
        assert (
            client.post("/cds-services/oih-order-sign", json=body, headers=headers).status_code
            == 401
        )
    # Enabled: the built-in key is the Sandbox's published one, so our stand-in key
    # (same kid, different key) is still refused: the signature is really checked.
    with _auth_client(tmp_path, trust_sandbox_issuer=True) as client:
        headers = {"Authorization": f"Bearer {sandbox_token(stand_in_key, aud)}"}
        assert (
            client.post("/cds-services/oih-order-sign", json=body, headers=headers).status_code
            == 401
        )


def test_production_refuses_to_trust_the_sandbox_issuer(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Sandbox's private key is public"):
        _settings(
            tmp_path,
            environment="production",
            auth_mode=AuthMode.REQUIRED,
            trust_sandbox_issuer=True,
            public_base_url="https://cds.example.org",
            cors_origins=["https://ehr.example.org"],
        )


def test_built_in_sandbox_issuer_pins_the_published_jwks() -> None:
    published = json.loads(JWKS_FIXTURE.read_text("utf-8"))
    (jwk,) = published["keys"]
    policy = sandbox_issuer()
    assert policy.iss == SANDBOX_ISSUER == "https://sandbox.cds-hooks.org"
    assert policy.jku == frozenset({SANDBOX_JKU})
    assert policy.algorithms == frozenset({"ES384"})
    assert policy.static_keys is not None
    assert policy.static_keys.kids == frozenset({jwk["kid"]})
    built_in = policy.static_keys.key_for(jwk["kid"], "ES384").key.public_numbers()
    expected = ECAlgorithm.from_jwk(json.dumps(jwk)).public_numbers()  # type: ignore[union-attr]
    assert (built_in.x, built_in.y, built_in.curve.name) == (
        expected.x,
        expected.y,
        expected.curve.name,
    )

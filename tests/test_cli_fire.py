"""``oih-cds scenarios`` and ``oih-cds fire`` against a real server that requires a signed JWT.

The server trusts a test issuer (a key made here, listed in a trusted-issuers file), so
the cards printed below also prove that ``--key/--kid/--iss`` signs what the service's
verifier accepts (ES384 and RS384).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from typer.testing import CliRunner

from service.cli import app
from service.cli_fire import Signer, prefetch_from_record
from service.clock import system_clock
from service.config import AuthMode, Settings
from service.scenarios import build_request, list_scenarios, patient_bundle
from tests.sandbox.live_server import LiveServer, live_server

ISS = "https://ehr.test.example"
runner = CliRunner()


def _pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("keys")
    ec_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (folder / "ec.pem").write_bytes(_pem(ec_key))
    (folder / "rsa.pem").write_bytes(_pem(rsa_key))
    (folder / "p256.pem").write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    jwks = {
        "keys": [
            json.loads(ECAlgorithm.to_jwk(ec_key.public_key())) | {"kid": "ec-1", "use": "sig"},
            json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())) | {"kid": "rsa-1", "use": "sig"},
        ]
    }
    issuers = folder / "issuers.yaml"
    issuers.write_text(yaml.safe_dump({"issuers": [{"iss": ISS, "jwks": jwks}]}), "utf-8")
    return {
        "ec": folder / "ec.pem",
        "rsa": folder / "rsa.pem",
        "p256": folder / "p256.pem",
        "issuers": issuers,
    }


@pytest.fixture(scope="module")
def server(keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("data")

    def settings(url: str) -> Settings:
        return Settings(
            auth_mode=AuthMode.REQUIRED,
            trusted_issuers_file=keys["issuers"],
            public_base_url=url,
            data_dir=data,
            _env_file=None,
        )

    with live_server(settings) as running:
        yield running


def fire(server: LiveServer, keys: dict[str, Path], *args: str, key: str = "ec") -> Any:
    kid = {"ec": "ec-1", "rsa": "rsa-1", "p256": "ec-1"}[key]
    signing = ["--key", str(keys[key]), "--kid", kid, "--iss", ISS]
    return runner.invoke(app, ["fire", "--url", server.url, *signing, *args])


def test_scenarios_lists_the_library() -> None:
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    for info in list_scenarios():
        assert re.search(rf"^{re.escape(info.name)}\s+{info.hook}\s+", result.stdout, re.M)
        assert info.story in result.stdout


@pytest.mark.parametrize("key", ["ec", "rsa"])
def test_fire_scenario_prints_the_cards_readably(
    server: LiveServer, keys: dict[str, Path], key: str
) -> None:
    result = fire(server, keys, "--scenario", "classic-oih", "--hook", "patient-view", key=key)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "patient-view -> oih-patient-view" in out
    assert "HTTP 200" in out
    assert re.search(r"^1\. \[WARNING\] Pain ", out, re.M)
    assert "opioid-induced hyperalgesia" in " ".join(out.split())
    assert "topic: oih-evaluate" in out
    assert "Suggestions" in out
    assert "Override reasons:" in out
    assert "**" not in out  # markdown emphasis is removed
    assert "\x1b[" not in out  # no colours when not a terminal
    urls = re.compile(r"^\s+https?://\S+$")  # long URLs stay whole on their own line
    assert all(len(line) <= 88 for line in out.splitlines() if not urls.match(line)), out


def test_fire_json_prints_the_raw_response(server: LiveServer, keys: dict[str, Path]) -> None:
    result = fire(server, keys, "--scenario", "classic-oih", "--hook", "patient-view", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    topics = {card["source"]["topic"]["code"] for card in body["cards"]}
    assert "oih-evaluate" in topics
    assert all(uuid.UUID(card["uuid"]) for card in body["cards"])


def test_fire_explain_prints_the_mme_table_and_rule_decisions(
    server: LiveServer, keys: dict[str, Path]
) -> None:
    result = fire(server, keys, "--scenario", "classic-oih", "--hook", "patient-view", "--explain")
    assert result.exit_code == 0, result.output
    out = result.stdout.split("--- explain", 1)[1]
    assert "MME/day now: 120" in out
    assert re.search(r"^order\s+source\s+drug\s+daily dose\s+factor\s+MME/d", out, re.M)
    assert re.search(
        r"MedicationRequest/classic-oih-mr-12\s+request\s+oxycodone\s+80 mg/day\s+1.5\s+120", out
    )
    assert re.search(r"^\s+FIRED\s+oih-evaluate\s", out, re.M)
    assert re.search(r"^\s+silent\s+mme-incomplete\s", out, re.M)


def test_fire_with_a_bundle_and_a_draft_file(
    server: LiveServer, keys: dict[str, Path], tmp_path: Path
) -> None:
    today = system_clock().date()
    record = tmp_path / "patient.json"
    record.write_text(json.dumps(patient_bundle("classic-oih", today)), "utf-8")
    escalating = {"drug": "oxycodone-30mg-tab", "dose": "1 tab", "freq": "6/d", "days": 30}
    body = build_request("classic-oih", "order-sign", today, draft_override=escalating)
    draft = tmp_path / "order.json"
    draft.write_text(json.dumps(body["context"]["draftOrders"]["entry"][0]["resource"]), "utf-8")

    for hook, service in (("order-sign", "oih-order-sign"), ("order-select", "oih-order-select")):
        result = fire(
            server,
            keys,
            "--bundle",
            str(record),
            "--draft",
            str(draft),
            "--hook",
            hook,
            "--show-request",
        )
        assert result.exit_code == 0, result.output
        assert f"{hook} -> {service}" in result.stdout
        assert "topic: oih-evaluate" in result.stdout
        assert "MME 30→270" in result.stdout or "270 MME/day" in result.stdout
        sent = json.loads(result.stdout[: result.stdout.index(f"{hook} -> ")])
        assert sent["context"]["patientId"] == "classic-oih"
        assert sent["prefetch"]["patient"]["id"] == "classic-oih"
        meds = sent["prefetch"]["medicationRequests"]
        assert meds["type"] == "searchset"
        assert len(meds["entry"]) == 12


def test_http_errors_exit_non_zero_with_the_operation_outcome(
    server: LiveServer, keys: dict[str, Path], tmp_path: Path
) -> None:
    today = system_clock().date()
    record = tmp_path / "patient.json"
    record.write_text(json.dumps(patient_bundle("classic-oih", today)), "utf-8")
    dstu2 = tmp_path / "dstu2.json"
    dstu2.write_text(
        json.dumps(
            {
                "resourceType": "MedicationOrder",
                "id": "order-123",
                "status": "draft",
                "dateWritten": today.isoformat(),
                "medicationCodeableConcept": {"coding": [{"code": "1049621"}]},
            }
        ),
        "utf-8",
    )
    result = fire(server, keys, "--bundle", str(record), "--draft", str(dstu2))
    assert result.exit_code == 1
    assert "HTTP 400 from POST" in result.output
    assert "R4" in result.output
    assert "MedicationOrder" in result.output

    unsigned = runner.invoke(app, ["fire", "--url", server.url, "--scenario", "classic-oih"])
    assert unsigned.exit_code == 1
    assert "HTTP 401 from GET" in unsigned.output

    unknown = fire(server, keys, "--scenario", "no-such-patient")
    assert unknown.exit_code == 2
    assert "no scenario called 'no-such-patient'" in unknown.output

    no_data = fire(
        server, keys, "--scenario", "classic-oih", "--hook", "patient-view", "--no-prefetch"
    )
    assert no_data.exit_code == 1
    assert "HTTP 412" in no_data.output
    assert "prefetch" in no_data.output


def test_unreachable_service_and_bad_keys_are_reported(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    args = ["fire", "--url", "http://127.0.0.1:9", "--scenario", "classic-oih"]
    assert runner.invoke(app, args).exit_code == 3
    p256 = runner.invoke(app, [*args, "--key", str(keys["p256"]), "--kid", "k", "--iss", ISS])
    assert p256.exit_code == 2
    assert "P-384" in p256.output
    half = runner.invoke(app, [*args, "--key", str(keys["ec"])])
    assert half.exit_code == 2
    assert "go together" in half.output


def test_signed_token_has_the_cds_hooks_claims(keys: dict[str, Path]) -> None:
    signer = Signer.from_pem(keys["ec"], "ec-1", ISS, jku="https://ehr.test.example/jwks")
    aud = "http://127.0.0.1:8080/cds-services/oih-order-sign"
    token = signer.token(aud, now=1_800_000_000)
    header = jwt.get_unverified_header(token)
    assert header == {
        "alg": "ES384",
        "kid": "ec-1",
        "typ": "JWT",
        "jku": "https://ehr.test.example/jwks",
    }
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == aud
    assert claims["iss"] == ISS
    assert claims["exp"] - claims["iat"] == 300
    assert uuid.UUID(claims["jti"]).version == 4
    assert "sub" not in claims


def test_prefetch_is_filled_from_any_services_templates() -> None:
    """Another service's templates: reads, token searches, and keys that cannot resolve."""
    today = system_clock().date()
    record = [e["resource"] for e in patient_bundle("classic-oih", today)["entry"]]
    templates = {
        "who": "Patient/{{context.patientId}}",
        "active": "MedicationRequest?patient={{context.patientId}}&status=active",
        "nrs": "Observation?subject=Patient/{{context.patientId}}&code=http://loinc.org|72514-3",
        "visit": "Encounter/{{context.encounterId}}",
    }
    context = {"patientId": "classic-oih", "userId": "Practitioner/x"}
    prefetch = prefetch_from_record(templates, record, context)
    assert prefetch["who"]["resourceType"] == "Patient"
    assert [e["resource"]["status"] for e in prefetch["active"]["entry"]] == ["active"]
    assert len(prefetch["nrs"]["entry"]) == 7
    assert "visit" not in prefetch  # no encounterId: left out, as the Sandbox does

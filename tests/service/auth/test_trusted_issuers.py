"""Trusted-issuer file: valid configurations load; mistakes stop start-up with a clear message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jwt.algorithms import ECAlgorithm

from service.auth.issuers import (
    DEFAULT_ALGORITHMS,
    IssuerConfigError,
    load_trusted_issuers,
    trusted_issuers_from_settings,
)
from service.config import SANDBOX_ISSUER, Settings

from .conftest import EC_KID, ISS, public_jwk, write_issuers

YAML_EXAMPLE = """\
issuers:
  - iss: https://ehr.example.org
    jwks_url: https://ehr.example.org/jwks
    jku: [https://ehr.example.org/jwks/v2]
    tenants: [tenant-a]
    fhir_servers: [https://ehr.example.org/fhir/]
  - iss: https://epic.example.org/api/FHIR/R4
    jwks_file: keys/epic.json
    algorithms: [RS384]
"""


def test_valid_yaml_file_loads(tmp_path: Path, jwks: dict[str, Any]) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "epic.json").write_text(json.dumps(jwks))
    path = tmp_path / "issuers.yaml"
    path.write_text(YAML_EXAMPLE)

    policies = load_trusted_issuers(path)

    ehr = policies["https://ehr.example.org"]
    assert ehr.algorithms == frozenset(DEFAULT_ALGORITHMS)
    assert ehr.jku == {"https://ehr.example.org/jwks/v2", "https://ehr.example.org/jwks"}
    assert ehr.tenants == {"tenant-a"}
    assert ehr.fhir_servers == ("https://ehr.example.org/fhir",)
    assert ehr.static_keys is None
    assert ehr.jwks_url == "https://ehr.example.org/jwks"
    epic = policies["https://epic.example.org/api/FHIR/R4"]
    assert epic.algorithms == {"RS384"}
    assert epic.static_keys is not None
    assert epic.fetchable_urls == frozenset()  # pinned keys are never fetched
    assert epic.tenants is None


def test_valid_json_file_loads(tmp_path: Path, jwks: dict[str, Any]) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"iss": ISS, "jwks": jwks}]}))
    assert set(load_trusted_issuers(path)) == {ISS}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"jwks_uri": "https://x.example/jwks"},
            r"issuers\[0\] \(iss 'https://ehr.example.org'\): jwks_uri: unknown key",
        ),
        (
            {"jwks_url": "https://ehr.example.org/jwks"},
            r"exactly one of jwks, jwks_file, jwks_url is required \(got jwks, jwks_url\)",
        ),
        ({"algorithms": ["HS256"]}, "HMAC"),
        ({"algorithms": ["ES384", "hs512"]}, "HMAC"),
        ({"algorithms": ["none"]}, "'none' is forbidden"),
        ({"algorithms": ["EdDSA"]}, "not supported"),
        ({"algorithms": []}, "must not be empty"),
        ({"tenants": []}, "at least one"),
        ({"jku": ["http://ehr.example.org/jwks"]}, "must use https"),
        ({"fhir_servers": ["ehr.example.org/fhir"]}, "absolute http"),
        ({"iss": "ehr.example.org"}, r"issuers\[0\] \(iss 'ehr.example.org'\): iss: .*absolute"),
    ],
)
def test_bad_entry_is_rejected_with_clear_message(
    tmp_path: Path, jwks: dict[str, Any], entry: dict[str, Any], message: str
) -> None:
    path = write_issuers(tmp_path, [{"iss": ISS, "jwks": jwks, **entry}])
    with pytest.raises(IssuerConfigError, match=message) as caught:
        load_trusted_issuers(path)
    assert str(path) in str(caught.value)


def test_rsa_only_keys_with_ecdsa_only_algorithms_rejected(tmp_path: Path, rsa_key: Any) -> None:
    path = write_issuers(
        tmp_path,
        [{"iss": ISS, "jwks": {"keys": [public_jwk(rsa_key, "r")]}, "algorithms": ["ES384"]}],
    )
    with pytest.raises(IssuerConfigError, match="none of its keys can verify ES384"):
        load_trusted_issuers(path)


def test_no_key_source_rejected(tmp_path: Path) -> None:
    path = write_issuers(tmp_path, [{"iss": ISS}])
    with pytest.raises(
        IssuerConfigError, match="exactly one of jwks, jwks_file, jwks_url is required"
    ):
        load_trusted_issuers(path)


def test_duplicate_iss_rejected(tmp_path: Path, jwks: dict[str, Any]) -> None:
    path = write_issuers(tmp_path, [{"iss": ISS, "jwks": jwks}, {"iss": ISS, "jwks": jwks}])
    with pytest.raises(IssuerConfigError, match=r"issuers\[1\].*duplicate iss.*issuers\[0\]"):
        load_trusted_issuers(path)


def test_unknown_top_level_key_and_empty_list_rejected(
    tmp_path: Path, jwks: dict[str, Any]
) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(f"issuers: []\ntrusted: {json.dumps([{'iss': ISS, 'jwks': jwks}])}\n")
    with pytest.raises(IssuerConfigError) as caught:
        load_trusted_issuers(path)
    assert "trusted: unknown key" in str(caught.value)
    assert "issuers: List should have at least 1 item" in str(caught.value)


def test_private_key_in_config_rejected(tmp_path: Path, ec_key: Any) -> None:
    private = json.loads(ECAlgorithm.to_jwk(ec_key))
    private["kid"] = EC_KID
    path = write_issuers(tmp_path, [{"iss": ISS, "jwks": {"keys": [private]}}])
    with pytest.raises(IssuerConfigError, match="private or symmetric key material"):
        load_trusted_issuers(path)


def test_missing_jwks_file_and_bad_yaml_rejected(tmp_path: Path) -> None:
    path = write_issuers(tmp_path, [{"iss": ISS, "jwks_file": "nope.json"}])
    with pytest.raises(IssuerConfigError, match=r"issuers\[0\].*jwks_file .*nope.json"):
        load_trusted_issuers(path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("issuers: [\n")
    with pytest.raises(IssuerConfigError, match=r"broken\.yaml: not valid YAML"):
        load_trusted_issuers(broken)


def test_sandbox_in_file_and_flag_conflict(tmp_path: Path, jwks: dict[str, Any]) -> None:
    path = write_issuers(tmp_path, [{"iss": SANDBOX_ISSUER, "jwks": jwks}])
    settings = Settings(trusted_issuers_file=path, trust_sandbox_issuer=True)
    with pytest.raises(IssuerConfigError, match="keep only one"):
        trusted_issuers_from_settings(settings)


def test_sandbox_issuer_added_only_with_flag(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, jwks: dict[str, Any]
) -> None:
    path = write_issuers(tmp_path, [{"iss": ISS, "jwks": jwks}])
    assert set(trusted_issuers_from_settings(Settings(trusted_issuers_file=path))) == {ISS}
    with_flag = trusted_issuers_from_settings(
        Settings(trusted_issuers_file=path, trust_sandbox_issuer=True)
    )
    assert set(with_flag) == {ISS, SANDBOX_ISSUER}
    assert "private key is public" in caplog.text


def test_shipped_sandbox_jwks_matches_the_shared_fixture() -> None:
    shipped = Path(__file__).parents[3] / "service" / "auth" / "data" / "sandbox-jwks.json"
    key = json.loads(shipped.read_text())["keys"][0]
    assert key["kid"] == "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("EC", "P-384", "sig", "ES384")
    assert "d" not in key

"""JwtVerifier: what CDS Hooks 2.0 JWTs are accepted, and why each bad one is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_encode

from cds_hooks.errors import Unauthenticated
from service.auth.issuers import SANDBOX_JKU, load_trusted_issuers
from service.auth.jwks import KeySet, KeyStore
from service.auth.replay import MemoryReplayCache
from service.auth.verify import (
    AUTH_DISABLED_WARNING,
    JwtVerifier,
    build_verifier,
    discovery_audience,
    explain_audience,
    feedback_audience,
    service_audience,
)
from service.config import SANDBOX_ISSUER, Settings

from .conftest import (
    AUD,
    BASE,
    EC_KID,
    ISS,
    NOW,
    RSA_KID,
    Clock,
    b64json,
    claims,
    es384_token,
    public_jwk,
    rs384_token,
    sign_token,
    write_issuers,
)

pytestmark = pytest.mark.anyio

SPEC_DATA = Path(__file__).parents[2] / "data" / "jwt"


def bearer(token: str) -> str:
    return f"Bearer {token}"


async def reason_of(verifier: JwtVerifier, authorization: str | None, audience: str = AUD) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(authorization, audience)
    return caught.value.reason


# --- acceptance -------------------------------------------------------------------------


async def test_accepts_es384_with_string_aud(verifier: JwtVerifier, ec_key: Any) -> None:
    token = es384_token(ec_key, jti="jti-es384")
    caller = await verifier.verify(bearer(token), AUD)
    assert (caller.iss, caller.jti, caller.kid) == (ISS, "jti-es384", EC_KID)
    assert caller.tenant is None
    assert caller.sub is None


async def test_accepts_rs384_with_array_aud(verifier: JwtVerifier, rsa_key: Any) -> None:
    token = rs384_token(rsa_key, aud=["https://other.example.org/cds-services", AUD])
    caller = await verifier.verify(bearer(token), AUD)
    assert caller.kid == RSA_KID


@pytest.mark.parametrize(
    ("token_aud", "expected"),
    [(AUD + "/", AUD), (AUD, AUD + "/"), ([AUD + "/"], AUD + "/")],
)
async def test_tolerates_trailing_slash_on_either_side(
    verifier: JwtVerifier, ec_key: Any, token_aud: Any, expected: str
) -> None:
    await verifier.verify(bearer(es384_token(ec_key, aud=token_aud)), expected)


async def test_accepts_epic_style_sub_and_nbf(verifier: JwtVerifier, rsa_key: Any) -> None:
    token = rs384_token(rsa_key, sub="epic-client-id", nbf=int(NOW) - 300)
    caller = await verifier.verify(bearer(token), AUD)
    assert caller.sub == "epic-client-id"


async def test_accepts_allowed_tenant_and_exposes_fhir_servers(
    make_verifier: Callable[..., JwtVerifier], jwks: dict[str, Any], ec_key: Any
) -> None:
    verifier = make_verifier(
        {
            "iss": ISS,
            "jwks": jwks,
            "tenants": ["tenant-a", "tenant-b"],
            "fhir_servers": ["https://ehr.example.org/fhir/"],
        }
    )
    caller = await verifier.verify(bearer(es384_token(ec_key, tenant="tenant-a")), AUD)
    assert caller.tenant == "tenant-a"
    assert caller.allowed_fhir_servers == ("https://ehr.example.org/fhir",)


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/jwt"])
async def test_typ_jwt_any_case_or_absent_is_accepted(
    verifier: JwtVerifier, ec_key: Any, typ: str | None
) -> None:
    await verifier.verify(bearer(es384_token(ec_key, header={"typ": typ})), AUD)


async def test_clock_skew_within_leeway_is_accepted(verifier: JwtVerifier, ec_key: Any) -> None:
    token = es384_token(ec_key, exp=int(NOW) - 30, iat=int(NOW) + 30, nbf=int(NOW) + 30)
    await verifier.verify(bearer(token), AUD)


async def test_bearer_scheme_is_case_insensitive(verifier: JwtVerifier, ec_key: Any) -> None:
    await verifier.verify("bearer " + es384_token(ec_key), AUD)


# --- rejection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(NOW) - 61}, "expired"),
        ({"nbf": int(NOW) + 120}, "not-yet-valid"),
        ({"iat": int(NOW) + 120, "exp": int(NOW) + 400}, "not-yet-valid"),
        ({"exp": int(NOW) + 7200}, "lifetime-too-long"),
        ({"aud": BASE + "/cds-services/another-service"}, "wrong-audience"),
        ({"aud": AUD + "-evil"}, "wrong-audience"),
        ({"aud": ["https://elsewhere.example.org"]}, "wrong-audience"),
        ({"aud": []}, "wrong-audience"),
        ({"iss": "https://evil.example.org"}, "unknown-issuer"),
        ({"iss": ISS + "/"}, "unknown-issuer"),
        ({"exp": "soon"}, "invalid-claim"),
        ({"jti": "x" * 1000}, "invalid-claim"),
        ({"tenant": 7}, "invalid-claim"),
    ],
)
async def test_rejects_bad_claims(
    verifier: JwtVerifier, ec_key: Any, overrides: dict[str, Any], reason: str
) -> None:
    assert await reason_of(verifier, bearer(es384_token(ec_key, **overrides))) == reason


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "jti"])
async def test_rejects_missing_required_claim(
    verifier: JwtVerifier, ec_key: Any, claim: str
) -> None:
    token = es384_token(ec_key, **{claim: None})
    assert await reason_of(verifier, bearer(token)) == "missing-claim"


async def test_rejects_unknown_kid(verifier: JwtVerifier, ec_key: Any) -> None:
    token = es384_token(ec_key, header={"kid": "not-a-known-kid"})
    assert await reason_of(verifier, bearer(token)) == "unknown-kid"


async def test_rejects_missing_kid(verifier: JwtVerifier, ec_key: Any) -> None:
    token = es384_token(ec_key, header={"kid": None})
    assert await reason_of(verifier, bearer(token)) == "missing-kid"


async def test_rejects_signature_by_another_key(verifier: JwtVerifier) -> None:
    impostor = ec.generate_private_key(ec.SECP384R1())
    token = es384_token(impostor)  # claims our kid
    assert await reason_of(verifier, bearer(token)) == "bad-signature"


async def test_rejects_tampered_payload(verifier: JwtVerifier, ec_key: Any) -> None:
    header, _, signature = es384_token(ec_key).split(".")
    forged = f"{header}.{b64json(claims(tenant='someone-else'))}.{signature}"
    assert await reason_of(verifier, bearer(forged)) == "bad-signature"


async def test_rejects_alg_none(verifier: JwtVerifier) -> None:
    token = f"{b64json({'alg': 'none', 'typ': 'JWT', 'kid': EC_KID})}.{b64json(claims())}."
    assert await reason_of(verifier, bearer(token)) == "alg-not-allowed"


async def test_rejects_hs256_signed_with_the_public_key(
    verifier: JwtVerifier, rsa_key: Any
) -> None:
    """Classic alg confusion: HMAC keyed with the RSA public key the verifier holds."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': RSA_KID})}.{b64json(claims())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64url_encode(mac).decode()}"
    assert await reason_of(verifier, bearer(token)) == "alg-not-allowed"


async def test_rejects_alg_not_configured_for_issuer(
    make_verifier: Callable[..., JwtVerifier], jwks: dict[str, Any], rsa_key: Any
) -> None:
    verifier = make_verifier({"iss": ISS, "jwks": jwks, "algorithms": ["ES384"]})
    assert await reason_of(verifier, bearer(rs384_token(rsa_key))) == "alg-not-allowed"


async def test_rejects_key_of_another_type_for_the_alg(verifier: JwtVerifier, ec_key: Any) -> None:
    token = es384_token(ec_key, header={"kid": RSA_KID})  # ES384 token naming the RSA key
    assert await reason_of(verifier, bearer(token)) == "key-alg-mismatch"


async def test_rejects_curve_that_does_not_match_alg(
    make_verifier: Callable[..., JwtVerifier], jwks: dict[str, Any]
) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    keys = {"keys": [*jwks["keys"], public_jwk(p256, "p256")]}
    verifier = make_verifier({"iss": ISS, "jwks": keys, "algorithms": ["ES384", "ES256"]})
    # ES256 header, but pointing at the P-384 key: refused before any crypto.
    token = sign_token({"alg": "ES256", "typ": "JWT", "kid": EC_KID}, claims(), p256)
    assert await reason_of(verifier, bearer(token)) == "key-alg-mismatch"
    good = sign_token({"alg": "ES256", "typ": "JWT", "kid": "p256"}, claims(), p256)
    await verifier.verify(bearer(good), AUD)


@pytest.mark.parametrize("typ", ["at+jwt", "JWS", "dpop+jwt", 5])
async def test_rejects_other_typ(verifier: JwtVerifier, ec_key: Any, typ: Any) -> None:
    assert await reason_of(verifier, bearer(es384_token(ec_key, header={"typ": typ}))) == "bad-typ"


async def test_rejects_replayed_jti(verifier: JwtVerifier, ec_key: Any) -> None:
    token = es384_token(ec_key)
    await verifier.verify(bearer(token), AUD)
    assert await reason_of(verifier, bearer(token)) == "replayed-jti"
    # The same jti in a freshly signed token is still a replay.
    jti = json.loads(jwt.utils.base64url_decode(token.split(".")[1]))["jti"]
    assert await reason_of(verifier, bearer(es384_token(ec_key, jti=jti))) == "replayed-jti"


async def test_rejected_token_does_not_use_up_its_jti(verifier: JwtVerifier, ec_key: Any) -> None:
    bad = es384_token(ec_key, jti="shared", aud="https://wrong.example.org")
    assert await reason_of(verifier, bearer(bad)) == "wrong-audience"
    await verifier.verify(bearer(es384_token(ec_key, jti="shared")), AUD)


async def test_same_jti_from_two_issuers_is_not_a_replay(
    make_verifier: Callable[..., JwtVerifier], jwks: dict[str, Any], ec_key: Any
) -> None:
    other = "https://other-ehr.example.org"
    verifier = make_verifier({"iss": ISS, "jwks": jwks}, {"iss": other, "jwks": jwks})
    await verifier.verify(bearer(es384_token(ec_key, jti="same")), AUD)
    await verifier.verify(bearer(es384_token(ec_key, jti="same", iss=other)), AUD)


async def test_jku_must_be_allow_listed(
    make_verifier: Callable[..., JwtVerifier], jwks: dict[str, Any], ec_key: Any
) -> None:
    allowed = "https://ehr.example.org/jwks"
    verifier = make_verifier({"iss": ISS, "jwks": jwks, "jku": [allowed]})
    # Pinned keys: an allow-listed jku is accepted and not fetched (KeyStore has no client).
    await verifier.verify(bearer(es384_token(ec_key, header={"jku": allowed})), AUD)
    for jku in ("https://attacker.example.net/jwks", allowed + "/", "https://ehr.example.org/"):
        token = es384_token(ec_key, header={"jku": jku})
        assert await reason_of(verifier, bearer(token)) == "jku-not-allowed"


async def test_jku_rejected_when_issuer_allows_none(verifier: JwtVerifier, ec_key: Any) -> None:
    token = es384_token(ec_key, header={"jku": "https://ehr.example.org/jwks"})
    assert await reason_of(verifier, bearer(token)) == "jku-not-allowed"


@pytest.mark.parametrize("header", [None, "", "   "])
async def test_rejects_missing_authorization(verifier: JwtVerifier, header: str | None) -> None:
    assert await reason_of(verifier, header) == "missing-header"


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a.b.c d", "Token a.b.c", "a.b.c"]
)
async def test_rejects_malformed_authorization(verifier: JwtVerifier, header: str) -> None:
    assert await reason_of(verifier, header) == "malformed-header"


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "abc.def",
        "!!!.@@@.###",
        f"{b64json([1, 2])}.{b64json({})}.c2ln",
        f"{b64json({'alg': 'ES384', 'kid': EC_KID})}.bm90IGpzb24.c2ln",
        "a" * 9000 + ".b.c",
    ],
)
async def test_rejects_malformed_token(verifier: JwtVerifier, token: str) -> None:
    assert await reason_of(verifier, bearer(token)) == "malformed"


async def test_rejects_tenant_not_allowed(
    make_verifier: Callable[..., JwtVerifier], jwks: dict[str, Any], ec_key: Any
) -> None:
    verifier = make_verifier({"iss": ISS, "jwks": jwks, "tenants": ["tenant-a"]})
    assert await reason_of(verifier, bearer(es384_token(ec_key, tenant="tenant-b"))) == (
        "tenant-not-allowed"
    )
    assert await reason_of(verifier, bearer(es384_token(ec_key))) == "tenant-not-allowed"


async def test_failure_response_is_generic(verifier: JwtVerifier, ec_key: Any) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(bearer(es384_token(ec_key, exp=1)), AUD)
    error = caught.value
    assert error.status_code == 401
    assert error.reason == "expired"
    assert "expired" not in json.dumps(error.to_operation_outcome())
    assert error.__cause__ is None


async def test_verifier_uses_the_injected_clock(
    verifier: JwtVerifier, clock: Clock, ec_key: Any
) -> None:
    token = es384_token(ec_key)
    clock.now = NOW + 3600
    assert await reason_of(verifier, bearer(token)) == "expired"


# --- the spec's own example (signature test vector) -------------------------------------


def _spec_vector() -> tuple[str, dict[str, Any]]:
    token = json.loads((SPEC_DATA / "spec201-31-example-jwt-token.json").read_text())["token"]
    jwks = json.loads((SPEC_DATA / "spec201-24-jwks-public-example.json").read_text())
    return token, jwks


def test_spec_example_jwt_signature_verifies() -> None:
    token, jwks = _spec_vector()
    key = KeySet.from_jwks(jwks).key_for("example-kid", "ES384")
    payload = jwt.decode(
        token,
        key,
        algorithms=["ES384"],
        options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
    )
    assert payload["iss"] == "https://fhir-ehr.example.com/"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, key, algorithms=["ES384"], options={"verify_exp": False})


async def test_spec_example_jwt_passes_the_verifier_at_its_own_time(tmp_path: Path) -> None:
    """Whole pipeline on the vector: clock set inside its 2011-2015 validity window."""
    token, jwks = _spec_vector()
    policies = load_trusted_issuers(
        write_issuers(
            tmp_path,
            [
                {
                    "iss": "https://fhir-ehr.example.com/",
                    "jwks": jwks,
                    "jku": ["https://fhir-ehr.example.com/jwk_uri"],
                    "tenants": ["2ddd6c3a-8e9a-44c6-a305-52111ad302a2"],
                }
            ],
        )
    )
    clock = Clock(1_400_000_000.0)
    verifier = JwtVerifier(
        policies,
        KeyStore(None),
        MemoryReplayCache(clock=clock),
        clock=clock,
        max_lifetime_seconds=10**9,  # the example is valid for years
    )
    caller = await verifier.verify(
        bearer(token), service_audience("https://cds.example.org", "some-service")
    )
    assert caller.jti == "ee22b021-e1b7-4611-ba5b-8eec6a33ac1e"
    assert caller.tenant == "2ddd6c3a-8e9a-44c6-a305-52111ad302a2"


# --- audiences and start-up wiring ------------------------------------------------------


def test_audience_helpers() -> None:
    base = "https://cds.example.org/oih/"
    assert discovery_audience(base) == "https://cds.example.org/oih/cds-services"
    assert service_audience(base, "oih-order-sign") == (
        "https://cds.example.org/oih/cds-services/oih-order-sign"
    )
    assert feedback_audience(base, "x") == "https://cds.example.org/oih/cds-services/x/feedback"
    assert explain_audience(base, "x") == "https://cds.example.org/oih/cds-services/x/explain"


async def test_build_verifier_none_when_auth_disabled() -> None:
    settings = Settings(auth_mode="disabled", trusted_issuers_file=None)
    async with httpx.AsyncClient() as client:
        assert build_verifier(settings, client) is None
    assert "DISABLED" in AUTH_DISABLED_WARNING
    assert "production" in AUTH_DISABLED_WARNING


async def test_build_verifier_from_file_accepts_token(
    tmp_path: Path, jwks: dict[str, Any], ec_key: Any
) -> None:
    path = write_issuers(tmp_path, [{"iss": ISS, "jwks": jwks}])
    settings = Settings(
        auth_mode="required", trusted_issuers_file=path, public_base_url=BASE, redis_url=None
    )
    async with httpx.AsyncClient() as client:
        verifier = build_verifier(settings, client, clock=Clock())
        assert verifier is not None
        assert set(verifier.issuers) == {ISS}
        caller = await verifier.verify(bearer(es384_token(ec_key)), AUD)
        assert caller.iss == ISS
        await verifier.aclose()


async def test_sandbox_issuer_only_when_enabled(tmp_path: Path, jwks: dict[str, Any]) -> None:
    path = write_issuers(tmp_path, [{"iss": ISS, "jwks": jwks}])
    async with httpx.AsyncClient() as client:
        without = build_verifier(Settings(trusted_issuers_file=path, redis_url=None), client)
        with_sandbox = build_verifier(
            Settings(trusted_issuers_file=path, trust_sandbox_issuer=True, redis_url=None), client
        )
    assert without is not None
    assert with_sandbox is not None
    assert SANDBOX_ISSUER not in without.issuers
    sandbox = with_sandbox.issuers[SANDBOX_ISSUER]
    assert sandbox.algorithms == frozenset({"ES384"})
    assert sandbox.jku == frozenset({SANDBOX_JKU})
    assert sandbox.static_keys is not None
    assert "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f" in sandbox.static_keys


async def test_sandbox_token_shape_reaches_signature_check() -> None:
    """A Sandbox-shaped token is routed to the pinned Sandbox key (no network)."""
    impostor = ec.generate_private_key(ec.SECP384R1())
    token = sign_token(
        {
            "alg": "ES384",
            "typ": "JWT",
            "kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
            "jku": SANDBOX_JKU,
        },
        claims(iss=SANDBOX_ISSUER),
        impostor,
    )
    async with httpx.AsyncClient() as client:
        verifier = build_verifier(
            Settings(trust_sandbox_issuer=True, redis_url=None), client, clock=Clock()
        )
        assert verifier is not None
        assert await reason_of(verifier, bearer(token)) == "bad-signature"

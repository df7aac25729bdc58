"""Remote JWKS: rotation without restart, rate-limited refetch, jku routing, hostile replies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from cds_hooks.errors import Unauthenticated
from service.auth.jwks import InvalidJwks, KeyAlgorithmMismatch, KeySet, KeyStore
from service.auth.verify import JwtVerifier

from .conftest import AUD, EC_KID, ISS, Clock, claims, es384_token, public_jwk, sign_token

pytestmark = pytest.mark.anyio

JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
OTHER_JKU = "https://ehr.example.org/keys/2"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def monotonic() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def remote_verifier(
    make_verifier: Callable[..., JwtVerifier], http: httpx.AsyncClient, monotonic: Clock
) -> Callable[..., JwtVerifier]:
    def make(**entry: Any) -> JwtVerifier:
        store = KeyStore(
            http, refresh_interval_seconds=60, max_age_seconds=3600, monotonic=monotonic
        )
        return make_verifier({"iss": ISS, "jwks_url": JWKS_URL, **entry}, key_store=store)

    return make


async def reason_of(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(f"Bearer {token}", AUD)
    return caught.value.reason


@respx.mock
async def test_key_rotation_refetches_once_then_rate_limits(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any, monotonic: Clock
) -> None:
    new_key = ec.generate_private_key(ec.SECP384R1())
    route = respx.get(JWKS_URL).mock(
        side_effect=[
            httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]}),
            httpx.Response(
                200,
                json={"keys": [public_jwk(ec_key, EC_KID), public_jwk(new_key, "ec-key-2")]},
            ),
            httpx.Response(200, json={"keys": [public_jwk(new_key, "ec-key-3")]}),
        ]
    )
    verifier = remote_verifier()

    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)  # first fetch
    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)  # cached
    assert route.call_count == 1

    monotonic.now += 61  # past the rate-limit window since the first fetch
    rotated = es384_token(new_key, header={"kid": "ec-key-2"})
    await verifier.verify(f"Bearer {rotated}", AUD)  # unknown kid -> one refetch -> accepted
    assert route.call_count == 2

    monotonic.now += 10  # inside the window: unknown kids do not refetch
    for attempt in range(5):
        token = es384_token(new_key, header={"kid": f"made-up-{attempt}"})
        assert await reason_of(verifier, token) == "unknown-kid"
    assert route.call_count == 2

    monotonic.now += 60  # window over: one more refetch is allowed
    assert await reason_of(verifier, es384_token(new_key, header={"kid": "made-up"})) == (
        "unknown-kid"
    )
    assert route.call_count == 3


@respx.mock
async def test_concurrent_unknown_kids_share_one_fetch(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any
) -> None:
    route = respx.get(JWKS_URL).mock(
        return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]})
    )
    verifier = remote_verifier()
    results: list[str] = []

    async def call() -> None:
        await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
        results.append("ok")

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(call)
    assert results == ["ok"] * 10
    assert route.call_count == 1


@respx.mock
async def test_stale_cache_is_refreshed_after_max_age(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any, monotonic: Clock
) -> None:
    route = respx.get(JWKS_URL).mock(
        return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]})
    )
    verifier = remote_verifier()
    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
    monotonic.now += 3601
    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
    assert route.call_count == 2


@respx.mock
async def test_fetch_failure_keeps_serving_known_keys(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any, monotonic: Clock
) -> None:
    respx.get(JWKS_URL).mock(
        side_effect=[
            httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]}),
            httpx.Response(503),
        ]
    )
    verifier = remote_verifier()
    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
    monotonic.now += 3601  # stale: refresh fails, the known key still works
    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500),
        httpx.Response(302, headers={"Location": "https://attacker.example.net/jwks"}),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"keys": []}),
    ],
    ids=["500", "redirect-not-followed", "not-json", "empty"],
)
@respx.mock
async def test_unusable_jwks_response_is_jwks_unavailable(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any, response: httpx.Response
) -> None:
    respx.get(JWKS_URL).mock(return_value=response)
    attacker = respx.get("https://attacker.example.net/jwks").mock(
        return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]})
    )
    verifier = remote_verifier()
    assert await reason_of(verifier, es384_token(ec_key)) == "jwks-unavailable"
    assert attacker.call_count == 0


@respx.mock
async def test_oversized_jwks_is_refused(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any
) -> None:
    """A valid JWKS padded past the 64 KiB cap: refused for its size alone."""
    body = json.dumps({"keys": [public_jwk(ec_key, EC_KID)]}) + " " * 70_000
    respx.get(JWKS_URL).mock(return_value=httpx.Response(200, content=body.encode()))
    assert await reason_of(remote_verifier(), es384_token(ec_key)) == "jwks-unavailable"


@respx.mock
async def test_network_error_is_rate_limited_too(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any
) -> None:
    route = respx.get(JWKS_URL).mock(side_effect=httpx.ConnectError("down"))
    verifier = remote_verifier()
    for _ in range(3):
        assert await reason_of(verifier, es384_token(ec_key)) == "jwks-unavailable"
    assert route.call_count == 1


@respx.mock
async def test_allow_listed_jku_is_fetched_instead_of_jwks_url(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any
) -> None:
    default = respx.get(JWKS_URL).mock(return_value=httpx.Response(200, json={"keys": []}))
    jku_route = respx.get(OTHER_JKU).mock(
        return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]})
    )
    verifier = remote_verifier(jku=[OTHER_JKU])
    await verifier.verify(f"Bearer {es384_token(ec_key, header={'jku': OTHER_JKU})}", AUD)
    # The jwks_url itself is an accepted jku value.
    default.mock(return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]}))
    await verifier.verify(f"Bearer {es384_token(ec_key, header={'jku': JWKS_URL})}", AUD)
    assert (jku_route.call_count, default.call_count) == (1, 1)


@respx.mock
async def test_jku_not_allow_listed_is_never_fetched(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any
) -> None:
    attacker_url = "https://attacker.example.net/jwks"
    attacker = respx.get(attacker_url).mock(
        return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]})
    )
    verifier = remote_verifier()
    token = es384_token(ec_key, header={"jku": attacker_url})
    assert await reason_of(verifier, token) == "jku-not-allowed"
    assert attacker.call_count == 0


@respx.mock
async def test_keys_not_for_signing_are_ignored(
    remote_verifier: Callable[..., JwtVerifier], ec_key: Any
) -> None:
    respx.get(JWKS_URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "keys": [
                    public_jwk(ec_key, "enc-key", use="enc"),
                    public_jwk(ec_key, "ops-key", key_ops=["encrypt"]),
                    public_jwk(ec_key, EC_KID),
                ]
            },
        )
    )
    verifier = remote_verifier()
    await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
    for kid in ("enc-key", "ops-key"):
        assert await reason_of(verifier, es384_token(ec_key, header={"kid": kid})) == "unknown-kid"


async def test_warm_up_prefetches(remote_verifier: Callable[..., JwtVerifier], ec_key: Any) -> None:
    with respx.mock:
        route = respx.get(JWKS_URL).mock(
            return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, EC_KID)]})
        )
        verifier = remote_verifier()
        await verifier.warm_up()
        await verifier.verify(f"Bearer {es384_token(ec_key)}", AUD)
        assert route.call_count == 1


# --- KeySet parsing ---------------------------------------------------------------------


def test_keyset_skips_unusable_keys(ec_key: Any, rsa_key: Any) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    keys = KeySet.from_jwks(
        {
            "keys": [
                public_jwk(ec_key, "enc", use="enc"),
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                public_jwk(weak, "weak-rsa"),
                {**public_jwk(ec_key, "x"), "kid": None},
                "not-an-object",
                public_jwk(rsa_key, "good-rsa"),
            ]
        }
    )
    assert keys.kids == frozenset({"good-rsa"})


def test_keyset_strict_mode_refuses_private_keys(ec_key: Any) -> None:
    private = json.loads(ECAlgorithm.to_jwk(ec_key))  # includes "d"
    private["kid"] = "oops"
    with pytest.raises(InvalidJwks, match="private"):
        KeySet.from_jwks({"keys": [private]}, reject_private=True)
    with pytest.raises(InvalidJwks, match="no usable"):
        KeySet.from_jwks({"keys": [private]})  # lenient mode skips it


def test_key_alg_member_must_match_token_alg(rsa_key: Any) -> None:
    keys = KeySet.from_jwks({"keys": [public_jwk(rsa_key, "r", alg="RS384")]})
    assert keys.key_for("r", "RS384").algorithm_name == "RS384"
    with pytest.raises(KeyAlgorithmMismatch):
        keys.key_for("r", "PS384")


async def test_sign_token_helper_round_trip(ec_key: Any) -> None:
    """Guard for the helpers: a token they build verifies with PyJWT directly."""
    token = sign_token({"alg": "ES384", "kid": EC_KID}, claims(), ec_key)
    decoded = jwt.decode(
        token,
        ec_key.public_key(),
        algorithms=["ES384"],
        options={
            "verify_signature": True,
            "verify_exp": False,
            "verify_iat": False,
            "verify_aud": False,
        },
    )
    assert decoded["iss"] == ISS

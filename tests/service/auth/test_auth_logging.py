"""No JWT, or any segment of one, reaches logs or exceptions, on success or on any failure."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec

from cds_hooks.errors import Unauthenticated
from service.auth.jwks import KeyStore
from service.auth.verify import JwtVerifier

from .conftest import AUD, ISS, NOW, b64json, claims, es384_token, public_jwk, rs384_token

pytestmark = pytest.mark.anyio

JWKS_URL = "https://ehr.example.org/jwks"
REMOTE_ISS = "https://remote.example.org"


def _fragments(token: str) -> list[str]:
    """The token and each part long enough to be meaningful if it leaked."""
    header, payload, signature = token.split(".")
    parts = [token, f"{header}.{payload}", payload, signature]
    return [part for part in parts if len(part) >= 16]


async def test_no_token_in_logs_or_exceptions(
    caplog: pytest.LogCaptureFixture,
    make_verifier: Callable[..., JwtVerifier],
    jwks: dict[str, Any],
    ec_key: Any,
    rsa_key: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    impostor = ec.generate_private_key(ec.SECP384R1())
    replayed = es384_token(ec_key)
    cases: list[tuple[str, str | None]] = [
        (es384_token(ec_key), None),
        (rs384_token(rsa_key, sub="epic", nbf=int(NOW)), None),
        (replayed, None),
        (replayed, "replayed-jti"),
        (es384_token(ec_key, exp=int(NOW) - 600), "expired"),
        (es384_token(ec_key, nbf=int(NOW) + 600), "not-yet-valid"),
        (es384_token(ec_key, aud="https://wrong.example.org"), "wrong-audience"),
        (es384_token(ec_key, iss="https://unknown.example.org"), "unknown-issuer"),
        (es384_token(ec_key, header={"kid": "nope"}), "unknown-kid"),
        (es384_token(impostor), "bad-signature"),
        (es384_token(ec_key, header={"jku": "https://evil.example.net/k"}), "jku-not-allowed"),
        (es384_token(ec_key, jti=None), "missing-claim"),
        (es384_token(ec_key, tenant="t-9", iss=REMOTE_ISS), "tenant-not-allowed"),
        (es384_token(ec_key, iss=REMOTE_ISS, header={"kid": "rotated"}), "unknown-kid"),
        (f"{b64json({'alg': 'none', 'kid': 'k'})}.{b64json(claims())}.", "alg-not-allowed"),
        (
            f"{b64json({'alg': 'ES384', 'kid': 'k'})}.bm90LWpzb24tYXQtYWxsLXJlYWxseQ.c2ln",
            "malformed",
        ),
    ]
    with respx.mock:
        respx.get(JWKS_URL).mock(
            return_value=httpx.Response(200, json={"keys": [public_jwk(ec_key, "ec-key-1")]})
        )
        async with httpx.AsyncClient() as http:
            verifier = make_verifier(
                {"iss": ISS, "jwks": jwks},
                {"iss": REMOTE_ISS, "jwks_url": JWKS_URL, "tenants": ["t-1"]},
                key_store=KeyStore(http),
            )
            for token, expected in cases:
                for header in (f"Bearer {token}", f"Basic {token}"):
                    try:
                        await verifier.verify(header, AUD)
                        outcome = None
                    except Unauthenticated as error:
                        outcome = error.reason
                        texts = [str(error), repr(error), error.reason, repr(error.args)]
                        texts.append(repr(error.to_operation_outcome()))
                        for fragment in _fragments(token):
                            assert all(fragment not in text for text in texts)
                    if header.startswith("Bearer"):
                        assert outcome == expected, (expected, outcome)
                    else:
                        assert outcome == "malformed-header"

    assert "JWT accepted" in caplog.text  # DEBUG logging really was on
    assert "JWT rejected: reason=bad-signature" in caplog.text
    assert "fetched JWKS" in caplog.text
    for token, _ in cases:
        for fragment in _fragments(token):
            assert fragment not in caplog.text

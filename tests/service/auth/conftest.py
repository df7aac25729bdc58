"""Keys, token builders and verifier factories shared by the auth tests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from service.auth.issuers import IssuerPolicy, load_trusted_issuers
from service.auth.jwks import KeyStore
from service.auth.replay import MemoryReplayCache, ReplayCache
from service.auth.verify import JwtVerifier, service_audience

NOW = 1_750_000_000.0
ISS = "https://ehr.example.org"
BASE = "https://cds.example.org"
AUD = service_audience(BASE, "oih-order-sign")
EC_KID = "ec-key-1"
RSA_KID = "rsa-key-1"


class Clock:
    """A settable clock standing in for time.time / time.monotonic."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key: Any, kid: str, **extra: Any) -> dict[str, Any]:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    else:
        jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "use": "sig"}, **extra)
    return jwk


@pytest.fixture(scope="session")
def jwks(ec_key: Any, rsa_key: Any) -> dict[str, Any]:
    return {"keys": [public_jwk(ec_key, EC_KID), public_jwk(rsa_key, RSA_KID)]}


def b64json(value: object) -> str:
    return base64url_encode(json.dumps(value).encode()).decode()


def sign_token(header: dict[str, Any], payload: dict[str, Any], private_key: Any) -> str:
    """A compact JWS with exactly ``header`` (no defaults added), signed by PyJWT's algs."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    algorithm = jwt.get_algorithm_by_name(header["alg"])
    signature = algorithm.sign(signing_input.encode(), private_key)
    return f"{signing_input}.{base64url_encode(signature).decode()}"


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid CDS Hooks claims at NOW; pass ``name=None`` to drop a claim."""
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "jti": str(uuid.uuid4()),
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def es384_token(
    ec_key: Any, *, header: dict[str, Any] | None = None, **claim_overrides: Any
) -> str:
    head = {"alg": "ES384", "typ": "JWT", "kid": EC_KID, **(header or {})}
    head = {name: value for name, value in head.items() if value is not None}
    return sign_token(head, claims(**claim_overrides), ec_key)


def rs384_token(
    rsa_key: Any, *, header: dict[str, Any] | None = None, **claim_overrides: Any
) -> str:
    head = {"alg": "RS384", "typ": "JWT", "kid": RSA_KID, **(header or {})}
    head = {name: value for name, value in head.items() if value is not None}
    return sign_token(head, claims(**claim_overrides), rsa_key)


def write_issuers(
    tmp_path: Path, entries: list[dict[str, Any]], name: str = "issuers.yaml"
) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"issuers": entries}), encoding="utf-8")
    return path


@pytest.fixture
def make_policies(tmp_path: Path, jwks: dict[str, Any]) -> Callable[..., dict[str, IssuerPolicy]]:
    """Load issuers through the real YAML loader; default: ISS with the inline test JWKS."""

    def make(*entries: dict[str, Any]) -> dict[str, IssuerPolicy]:
        chosen = list(entries) or [{"iss": ISS, "jwks": jwks}]
        return load_trusted_issuers(write_issuers(tmp_path, chosen))

    return make


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_verifier(
    make_policies: Callable[..., dict[str, IssuerPolicy]], clock: Clock
) -> Callable[..., JwtVerifier]:
    def make(
        *entries: dict[str, Any],
        replay: ReplayCache | None = None,
        key_store: KeyStore | None = None,
    ) -> JwtVerifier:
        return JwtVerifier(
            make_policies(*entries),
            key_store if key_store is not None else KeyStore(None),
            replay if replay is not None else MemoryReplayCache(clock=clock),
            leeway_seconds=60,
            clock=clock,
        )

    return make


@pytest.fixture
def verifier(make_verifier: Callable[..., JwtVerifier]) -> JwtVerifier:
    return make_verifier()

"""Authenticates CDS clients by the JWT in ``Authorization: Bearer`` (CDS Hooks 2.0).

Order of checks: header shape, JOSE header (``alg`` asymmetric, ``kid`` present,
``typ``), trusted ``iss``, ``alg`` pinned for that issuer, ``jku`` allow-listed, key by
``kid``, signature, then claims (``exp``/``nbf``/``iat`` with leeway, ``aud``, ``tenant``)
and finally the ``jti`` replay cache, so a token that fails any check never uses up its
``jti``. Claims are only trusted after the signature; the unverified ``iss`` merely
selects the keys.

Decisions:

* ``typ``: CDS Hooks marks it REQUIRED, but it adds nothing to signature, ``iss`` and
  ``aud`` checks, and rejecting a missing one only breaks clients. A present ``typ``
  must be ``JWT`` (or ``application/jwt``), case-insensitively, so a different kind of
  JWT from the same issuer (``at+jwt`` access tokens, ``dpop+jwt``) is refused.
* ``kid`` is required (the spec picks the key by it); ``alg`` must be one the issuer is
  configured for, never ``none``/HMAC, and must match the key's type, curve and ``alg``.
* ``aud`` may be a string or an array; one entry must equal the URL called, built from
  ``OIH_PUBLIC_BASE_URL`` (proxies and tunnels change ``request.url``); a trailing slash
  on either side is ignored.
* Tokens valid for more than ``max_lifetime_seconds`` from now are refused: their ``jti``
  would have to be remembered that long.
* Failures raise :class:`Unauthenticated` with a short machine-friendly reason (see
  :class:`AuthFailure`). The token is never put in reasons, exceptions or logs.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NoReturn
from urllib.parse import quote

import httpx
import jwt
from jwt.exceptions import (
    InvalidAlgorithmError,
    InvalidKeyError,
    InvalidSignatureError,
    PyJWTError,
)

from cds_hooks.errors import Unauthenticated
from service.auth.issuers import ASYMMETRIC_ALGORITHMS, IssuerPolicy, trusted_issuers_from_settings
from service.auth.jwks import DEFAULT_REFRESH_INTERVAL_SECONDS, KeyResolutionError, KeyStore
from service.auth.replay import ReplayCache, ReplayCacheUnavailable, create_replay_cache
from service.config import AuthMode, Settings

logger = logging.getLogger(__name__)

#: Logged by the app at start-up when ``build_verifier`` returns None.
AUTH_DISABLED_WARNING: Final = (
    "AUTHENTICATION IS DISABLED (OIH_AUTH_MODE=disabled): every CDS Hooks request is "
    "accepted without a JWT, so anyone who can reach this service can call it and make it "
    "query FHIR servers. Use only for local trials with synthetic data; never in production."
)

MAX_TOKEN_CHARS: Final = 8192
MAX_JTI_CHARS: Final = 256
DEFAULT_MAX_LIFETIME_SECONDS: Final = 3600
ACCEPTED_TYP: Final = frozenset({"jwt", "application/jwt"})
REQUIRED_CLAIMS: Final = ("iss", "aud", "exp", "iat", "jti")

_SIGNATURE_ONLY: Final = jwt.PyJWS(algorithms=sorted(ASYMMETRIC_ALGORITHMS))


class AuthFailure(StrEnum):
    """Reasons for ``Unauthenticated`` (logs and metrics only, never the response)."""

    MISSING_HEADER = "missing-header"  # no Authorization header
    MALFORMED_HEADER = "malformed-header"  # not "Bearer <token>"
    MALFORMED = "malformed"  # not a parseable JWS/JWT, or oversized
    BAD_TYP = "bad-typ"  # typ present but not JWT
    MISSING_KID = "missing-kid"
    ALG_NOT_ALLOWED = "alg-not-allowed"  # none, HMAC, or not configured for the issuer
    UNKNOWN_ISSUER = "unknown-issuer"
    JKU_NOT_ALLOWED = "jku-not-allowed"
    UNKNOWN_KID = "unknown-kid"
    KEY_ALG_MISMATCH = "key-alg-mismatch"  # the kid's key is of another type/curve/alg
    JWKS_UNAVAILABLE = "jwks-unavailable"  # remote JWKS could not be fetched
    BAD_SIGNATURE = "bad-signature"
    MISSING_CLAIM = "missing-claim"
    INVALID_CLAIM = "invalid-claim"  # a claim of the wrong type or size
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"  # nbf or iat in the future beyond the leeway
    LIFETIME_TOO_LONG = "lifetime-too-long"
    WRONG_AUDIENCE = "wrong-audience"
    TENANT_NOT_ALLOWED = "tenant-not-allowed"
    REPLAYED_JTI = "replayed-jti"
    REPLAY_CACHE_UNAVAILABLE = "replay-cache-unavailable"


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated CDS client of one request."""

    iss: str
    jti: str
    kid: str
    tenant: str | None = None
    sub: str | None = None
    #: FHIR bases this issuer may name in ``fhirServer`` (normalised, no trailing slash).
    allowed_fhir_servers: tuple[str, ...] = ()


def audience_for(public_base_url: str, path: str) -> str:
    """The ``aud`` a client must use to call ``path`` (e.g. ``/cds-services/x``)."""
    return public_base_url.rstrip("/") + "/" + path.lstrip("/")


def discovery_audience(public_base_url: str) -> str:
    return audience_for(public_base_url, "/cds-services")


def service_audience(public_base_url: str, service_id: str) -> str:
    return audience_for(public_base_url, "/cds-services/" + quote(service_id, safe=""))


def feedback_audience(public_base_url: str, service_id: str) -> str:
    return service_audience(public_base_url, service_id) + "/feedback"


def explain_audience(public_base_url: str, service_id: str) -> str:
    return service_audience(public_base_url, service_id) + "/explain"


def _short(value: object) -> str:
    """A log-safe rendering of a caller-supplied header/claim value."""
    return repr(value)[:120]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _audience_matches(aud: object, expected: str) -> bool:
    want = expected.rstrip("/")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return any(isinstance(value, str) and value.rstrip("/") == want for value in values)


class JwtVerifier:
    """Verifies CDS Hooks JWTs against the trusted issuers; one instance per process."""

    def __init__(
        self,
        issuers: Mapping[str, IssuerPolicy],
        key_store: KeyStore,
        replay_cache: ReplayCache,
        *,
        leeway_seconds: float = 60,
        max_lifetime_seconds: float = DEFAULT_MAX_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._issuers = dict(issuers)
        self._keys = key_store
        self._replay = replay_cache
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._clock = clock

    @property
    def issuers(self) -> Mapping[str, IssuerPolicy]:
        return self._issuers

    async def warm_up(self) -> None:
        """Optionally prefetch remote JWKS at start-up so the first request is not slower."""
        await self._keys.warm_up(self._issuers.values())

    async def aclose(self) -> None:
        await self._replay.aclose()

    async def verify(self, authorization: str | None, audience: str) -> Caller:
        """Return the caller, or raise ``Unauthenticated(reason)``.

        ``authorization`` is the raw header value; ``audience`` the URL called under
        ``OIH_PUBLIC_BASE_URL`` (see :func:`service_audience` and friends).
        """
        token = self._bearer_token(authorization)
        header = self._header(token)
        alg: str = header["alg"]
        kid: str = header["kid"]
        jku: str | None = header.get("jku")

        unverified = self._unverified_claims(token)
        iss = unverified.get("iss")
        if iss is None:
            self._fail(AuthFailure.MISSING_CLAIM, kid=kid)
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            self._fail(AuthFailure.UNKNOWN_ISSUER, iss=iss, kid=kid)
        if alg not in issuer.algorithms:
            self._fail(AuthFailure.ALG_NOT_ALLOWED, iss=iss, kid=kid)
        if jku is not None and jku not in issuer.jku:
            self._fail(AuthFailure.JKU_NOT_ALLOWED, iss=iss, kid=kid)

        try:
            key = await self._keys.key_for(issuer, kid, alg, jku)
        except KeyResolutionError as error:
            self._fail(AuthFailure(error.reason), iss=iss, kid=kid)

        claims = self._verified_claims(token, key, alg, iss=iss, kid=kid)
        if claims.get("iss") != iss:  # same bytes, so unreachable; kept as a guard
            self._fail(AuthFailure.UNKNOWN_ISSUER, iss=iss, kid=kid)
        caller = self._check_claims(claims, issuer, kid, audience)

        try:
            first_use = await self._replay.check_and_store(
                iss, caller.jti, float(claims["exp"]) + self._leeway
            )
        except ReplayCacheUnavailable:
            self._fail(AuthFailure.REPLAY_CACHE_UNAVAILABLE, iss=iss, kid=kid)
        if not first_use:
            self._fail(AuthFailure.REPLAYED_JTI, iss=iss, kid=kid, jti=caller.jti)
        logger.debug(
            "JWT accepted: iss=%s kid=%s jti=%s tenant=%s",
            _short(iss),
            _short(kid),
            _short(caller.jti),
            _short(caller.tenant),
        )
        return caller

    # --- steps -----------------------------------------------------------------------

    def _fail(
        self,
        reason: AuthFailure,
        *,
        iss: object = None,
        kid: object = None,
        jti: object = None,
    ) -> NoReturn:
        logger.info(
            "JWT rejected: reason=%s iss=%s kid=%s jti=%s",
            reason.value,
            _short(iss),
            _short(kid),
            _short(jti),
        )
        raise Unauthenticated(reason.value)

    def _bearer_token(self, authorization: str | None) -> str:
        if authorization is None or not authorization.strip():
            self._fail(AuthFailure.MISSING_HEADER)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            self._fail(AuthFailure.MALFORMED_HEADER)
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
            self._fail(AuthFailure.MALFORMED)
        return token

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            self._fail(AuthFailure.MALFORMED)
        alg = header.get("alg")
        kid = header.get("kid")
        if not isinstance(alg, str) or alg not in ASYMMETRIC_ALGORITHMS:
            self._fail(AuthFailure.ALG_NOT_ALLOWED, kid=kid)
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP):
            self._fail(AuthFailure.BAD_TYP, kid=kid)
        if not isinstance(kid, str) or not kid:
            self._fail(AuthFailure.MISSING_KID)
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            self._fail(AuthFailure.MALFORMED, kid=kid)
        return header

    def _unverified_claims(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except PyJWTError:
            self._fail(AuthFailure.MALFORMED)
        if not isinstance(claims, dict):
            self._fail(AuthFailure.MALFORMED)
        return claims

    def _verified_claims(
        self, token: str, key: jwt.PyJWK, alg: str, *, iss: str, kid: str
    ) -> dict[str, Any]:
        """Check the signature with exactly the pinned ``alg`` and key; return the payload."""
        try:
            decoded = _SIGNATURE_ONLY.decode_complete(
                token,
                key=key,
                algorithms=[alg],
                options={"verify_signature": True, "enforce_minimum_key_length": True},
            )
        except InvalidSignatureError:
            self._fail(AuthFailure.BAD_SIGNATURE, iss=iss, kid=kid)
        except InvalidAlgorithmError:
            self._fail(AuthFailure.ALG_NOT_ALLOWED, iss=iss, kid=kid)
        except InvalidKeyError:  # curve/type mismatch or an RSA key under 2048 bits
            self._fail(AuthFailure.KEY_ALG_MISMATCH, iss=iss, kid=kid)
        except PyJWTError:
            self._fail(AuthFailure.MALFORMED, iss=iss, kid=kid)
        try:
            claims = json.loads(decoded["payload"])
        except (ValueError, RecursionError):
            self._fail(AuthFailure.MALFORMED, iss=iss, kid=kid)
        if not isinstance(claims, dict):
            self._fail(AuthFailure.MALFORMED, iss=iss, kid=kid)
        return claims

    def _check_claims(
        self, claims: Mapping[str, Any], issuer: IssuerPolicy, kid: str, audience: str
    ) -> Caller:
        iss = issuer.iss
        for name in REQUIRED_CLAIMS:
            if claims.get(name) is None:
                self._fail(AuthFailure.MISSING_CLAIM, iss=iss, kid=kid)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
            self._fail(AuthFailure.INVALID_CLAIM, iss=iss, kid=kid)
        for name in ("exp", "iat", "nbf"):
            if name in claims and not _is_number(claims[name]):
                self._fail(AuthFailure.INVALID_CLAIM, iss=iss, kid=kid, jti=jti)
        tenant = claims.get("tenant")
        sub = claims.get("sub")
        if not isinstance(tenant, str | None) or not isinstance(sub, str | None):
            self._fail(AuthFailure.INVALID_CLAIM, iss=iss, kid=kid, jti=jti)

        now = self._clock()
        exp = float(claims["exp"])
        if exp <= now - self._leeway:
            self._fail(AuthFailure.EXPIRED, iss=iss, kid=kid, jti=jti)
        if float(claims["iat"]) > now + self._leeway:
            self._fail(AuthFailure.NOT_YET_VALID, iss=iss, kid=kid, jti=jti)
        if "nbf" in claims and float(claims["nbf"]) > now + self._leeway:
            self._fail(AuthFailure.NOT_YET_VALID, iss=iss, kid=kid, jti=jti)
        if exp - now > self._max_lifetime:
            self._fail(AuthFailure.LIFETIME_TOO_LONG, iss=iss, kid=kid, jti=jti)
        if not _audience_matches(claims["aud"], audience):
            self._fail(AuthFailure.WRONG_AUDIENCE, iss=iss, kid=kid, jti=jti)
        if issuer.tenants is not None and tenant not in issuer.tenants:
            self._fail(AuthFailure.TENANT_NOT_ALLOWED, iss=iss, kid=kid, jti=jti)
        return Caller(
            iss=iss,
            jti=jti,
            kid=kid,
            tenant=tenant,
            sub=sub,
            allowed_fhir_servers=issuer.fhir_servers,
        )


def build_verifier(
    settings: Settings,
    http_client: httpx.AsyncClient,
    *,
    replay_cache: ReplayCache | None = None,
    clock: Callable[[], float] = time.time,
    jwks_refresh_interval_seconds: float = DEFAULT_REFRESH_INTERVAL_SECONDS,
) -> JwtVerifier | None:
    """The process's verifier, or None when ``OIH_AUTH_MODE=disabled``.

    Raises :class:`~service.auth.issuers.IssuerConfigError` on a bad issuer file, so the
    service refuses to start. When None is returned the app must log
    :data:`AUTH_DISABLED_WARNING`.
    """
    if settings.auth_mode is AuthMode.DISABLED:
        return None
    issuers = trusted_issuers_from_settings(settings)
    key_store = KeyStore(http_client, refresh_interval_seconds=jwks_refresh_interval_seconds)
    return JwtVerifier(
        issuers,
        key_store,
        replay_cache if replay_cache is not None else create_replay_cache(settings, clock=clock),
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=clock,
    )

"""Signing keys per trusted issuer: pinned (inline or file) or fetched from a JWKS URL.

Remote key sets are cached and refreshed when a token names an unknown ``kid`` or the
cache is older than ``max_age_seconds``, so an EHR can rotate keys without a restart.
Every fetch (successful or not) is rate-limited per issuer and URL, so a stream of
tokens with made-up ``kid`` values cannot make us hammer the EHR's key endpoint, and
concurrent requests share one fetch. Fetches never follow redirects and read at most
``max_jwks_bytes``: the URL is configuration, but what it serves is not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import httpx
from jwt import PyJWK
from jwt.exceptions import PyJWTError

if TYPE_CHECKING:
    from service.auth.issuers import IssuerPolicy

logger = logging.getLogger(__name__)

#: JWK members that only private (or symmetric) keys have. A verifier never needs them.
PRIVATE_KEY_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: Key types that can carry the asymmetric algorithms we accept (see issuers.py).
SUPPORTED_KEY_TYPES: Final = frozenset({"EC", "RSA"})
#: The only curve each ECDSA algorithm may use (RFC 7518 §3.4).
EC_CURVES: Final = MappingProxyType({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"})

#: NIST SP 800-131A; shorter RSA keys are ignored like unusable ones.
MIN_RSA_BITS: Final = 2048

DEFAULT_REFRESH_INTERVAL_SECONDS: Final = 60.0
DEFAULT_MAX_AGE_SECONDS: Final = 3600.0
DEFAULT_FETCH_TIMEOUT_SECONDS: Final = 2.0
DEFAULT_MAX_JWKS_BYTES: Final = 64 * 1024


class InvalidJwks(ValueError):
    """A JWK Set document is unusable (shape, private material, or no signing key)."""


class KeyResolutionError(Exception):
    """No key to verify a token with; ``reason`` becomes the ``Unauthenticated`` reason."""

    reason: str = "unknown-kid"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class KeyNotFound(KeyResolutionError):
    reason = "unknown-kid"


class KeyAlgorithmMismatch(KeyResolutionError):
    """The key exists but cannot be used with the token's ``alg`` (type, curve or its own alg)."""

    reason = "key-alg-mismatch"


class JwksUnavailable(KeyResolutionError):
    """The issuer's JWKS could not be fetched and no cached key matches."""

    reason = "jwks-unavailable"


def _key_family_ok(jwk: Mapping[str, Any], alg: str) -> bool:
    kty = jwk.get("kty")
    if alg.startswith("ES"):
        return kty == "EC" and jwk.get("crv") == EC_CURVES.get(alg)
    if alg.startswith(("RS", "PS")):
        return kty == "RSA"
    return False


class KeySet:
    """Usable signing keys of one JWKS, by ``kid``; PyJWK objects are built once per alg.

    Keys are skipped (not errors) when they are not for signatures (``use`` other than
    ``sig``, ``key_ops`` without ``verify``), have no ``kid`` (CDS Hooks tokens always
    name one), are not EC/RSA, are RSA under 2048 bits, or cannot be parsed: a JWKS may
    legitimately mix in encryption keys. The first key wins when a ``kid`` repeats.
    """

    def __init__(self, keys: Mapping[str, Mapping[str, Any]]) -> None:
        self._keys: dict[str, Mapping[str, Any]] = dict(keys)
        self._prepared: dict[tuple[str, str], PyJWK] = {}

    @classmethod
    def from_jwks(cls, document: object, *, reject_private: bool = False) -> KeySet:
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise InvalidJwks('a JWK Set must be an object with a "keys" array')
        keys: dict[str, Mapping[str, Any]] = {}
        for index, jwk in enumerate(document["keys"]):
            if not isinstance(jwk, Mapping):
                continue
            private = PRIVATE_KEY_MEMBERS.intersection(jwk)
            if private:
                if reject_private:
                    raise InvalidJwks(
                        f"keys[{index}] contains private or symmetric key material "
                        f"({', '.join(sorted(private))}); configure the public key only"
                    )
                logger.warning("ignoring JWK keys[%d] with private key material", index)
                continue
            if not _usable_for_signatures(jwk):
                continue
            kid = jwk.get("kid")
            if not isinstance(kid, str) or not kid or kid in keys:
                continue
            try:
                parsed = PyJWK(dict(jwk))
            except PyJWTError:
                continue
            key_size = getattr(parsed.key, "key_size", MIN_RSA_BITS)
            if jwk.get("kty") == "RSA" and key_size < MIN_RSA_BITS:
                logger.warning("ignoring JWK %r: RSA key of %d bits is too short", kid, key_size)
                continue
            keys[kid] = MappingProxyType(dict(jwk))
        if not keys:
            raise InvalidJwks(
                'the JWK Set has no usable signing key (EC or RSA, with a kid, use "sig" or no use)'
            )
        return cls(keys)

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def supports_any(self, algorithms: Iterable[str]) -> bool:
        """Whether at least one key can verify at least one of ``algorithms``."""
        return any(
            _key_family_ok(jwk, alg) and jwk.get("alg", alg) == alg
            for jwk in self._keys.values()
            for alg in algorithms
        )

    def key_for(self, kid: str, alg: str) -> PyJWK:
        """The key ``kid`` bound to ``alg``; refuses a key whose type, curve or alg differ."""
        jwk = self._keys.get(kid)
        if jwk is None:
            raise KeyNotFound("no key with this kid")
        cached = self._prepared.get((kid, alg))
        if cached is not None:
            return cached
        if not _key_family_ok(jwk, alg) or jwk.get("alg", alg) != alg:
            raise KeyAlgorithmMismatch("the key cannot be used with the token's alg")
        try:
            prepared = PyJWK(dict(jwk), algorithm=alg)
        except PyJWTError:
            raise KeyAlgorithmMismatch("the key cannot be used with the token's alg") from None
        self._prepared[(kid, alg)] = prepared
        return prepared


def _usable_for_signatures(jwk: Mapping[str, Any]) -> bool:
    if jwk.get("kty") not in SUPPORTED_KEY_TYPES:
        return False
    use = jwk.get("use")
    if use is not None and use != "sig":
        return False
    key_ops = jwk.get("key_ops")
    return key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)


@dataclass
class _RemoteEntry:
    keys: KeySet | None = None
    fetched_at: float = -math.inf
    last_attempt: float = -math.inf
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KeyStore:
    """Resolves ``(issuer, kid, alg, jku)`` to a verification key.

    Pinned keys (``jwks``/``jwks_file``) never cause network traffic; for them ``jku`` is
    only checked against the allow-list (by the verifier). Remote issuers are fetched
    from the token's ``jku`` when given (already allow-listed) else from ``jwks_url``.
    """

    def __init__(
        self,
        http_client: httpx.AsyncClient | None,
        *,
        refresh_interval_seconds: float = DEFAULT_REFRESH_INTERVAL_SECONDS,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        fetch_timeout_seconds: float = DEFAULT_FETCH_TIMEOUT_SECONDS,
        max_jwks_bytes: int = DEFAULT_MAX_JWKS_BYTES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http_client
        self._refresh_interval = refresh_interval_seconds
        self._max_age = max_age_seconds
        self._timeout = fetch_timeout_seconds
        self._max_bytes = max_jwks_bytes
        self._monotonic = monotonic
        self._remote: dict[tuple[str, str], _RemoteEntry] = {}

    async def key_for(self, issuer: IssuerPolicy, kid: str, alg: str, jku: str | None) -> PyJWK:
        if issuer.static_keys is not None:
            return issuer.static_keys.key_for(kid, alg)
        url = jku or issuer.jwks_url
        if url is None or url not in issuer.fetchable_urls:
            # The verifier checks jku first; this guards against a future caller that doesn't.
            raise KeyNotFound("no allow-listed JWKS URL for this issuer")
        keys = await self._remote_keys(issuer.iss, url, kid)
        return keys.key_for(kid, alg)

    async def warm_up(self, issuers: Iterable[IssuerPolicy]) -> None:
        """Fetch every remote JWKS once (start-up latency); failures are only logged."""
        for issuer in issuers:
            if issuer.static_keys is None and issuer.jwks_url is not None:
                try:
                    await self._remote_keys(issuer.iss, issuer.jwks_url, None)
                except KeyResolutionError:
                    logger.warning("could not prefetch the JWKS of issuer %r", issuer.iss)

    async def _remote_keys(self, iss: str, url: str, kid: str | None) -> KeySet:
        entry = self._remote.setdefault((iss, url), _RemoteEntry())
        if self._fresh_with(entry, kid):
            assert entry.keys is not None
            return entry.keys
        async with entry.lock:
            if self._fresh_with(entry, kid):  # another request refreshed while we waited
                assert entry.keys is not None
                return entry.keys
            now = self._monotonic()
            if now - entry.last_attempt < self._refresh_interval:
                if entry.keys is not None and (kid is None or kid in entry.keys):
                    return entry.keys  # stale but usable; refresh again later
                if entry.keys is None:
                    raise JwksUnavailable("JWKS not fetched yet (rate-limited)")
                raise KeyNotFound("unknown kid; JWKS refresh is rate-limited")
            entry.last_attempt = now
            try:
                entry.keys = await self._fetch(url)
                entry.fetched_at = self._monotonic()
                logger.info(
                    "fetched JWKS for issuer %r from %s (%d keys)", iss, url, len(entry.keys.kids)
                )
            except JwksUnavailable as error:
                # Keep serving the keys we have (availability); retry after the interval.
                logger.warning("JWKS fetch for issuer %r from %s failed: %s", iss, url, error)
                if entry.keys is None or (kid is not None and kid not in entry.keys):
                    raise
            if kid is not None and kid not in entry.keys:
                raise KeyNotFound("unknown kid after JWKS refresh")
            return entry.keys

    def _fresh_with(self, entry: _RemoteEntry, kid: str | None) -> bool:
        return (
            entry.keys is not None
            and (kid is None or kid in entry.keys)
            and self._monotonic() - entry.fetched_at < self._max_age
        )

    async def _fetch(self, url: str) -> KeySet:
        if self._http is None:
            raise JwksUnavailable("no HTTP client configured for remote JWKS")
        body = bytearray()
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http.stream(
                    "GET",
                    url,
                    headers={"Accept": "application/jwk-set+json, application/json"},
                    follow_redirects=False,
                    timeout=self._timeout,
                ) as response:
                    if response.status_code != 200:
                        raise JwksUnavailable(f"HTTP {response.status_code}")
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > self._max_bytes:
                            raise JwksUnavailable(f"response larger than {self._max_bytes} bytes")
        except (httpx.HTTPError, TimeoutError) as error:
            raise JwksUnavailable(type(error).__name__) from None
        try:
            return KeySet.from_jwks(json.loads(body))
        except (ValueError, RecursionError) as error:
            raise JwksUnavailable(f"invalid JWKS: {error}") from None

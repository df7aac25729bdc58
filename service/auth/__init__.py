"""Authentication of CDS clients: trusted issuers, their keys, JWT checks, jti replay.

Wiring: ``build_verifier(settings, http_client)`` once at start-up (None when auth is
disabled: log ``AUTH_DISABLED_WARNING``), then ``await verifier.verify(header, aud)``
per request with ``aud`` from :func:`discovery_audience` / :func:`service_audience` /
:func:`feedback_audience`; ``await verifier.aclose()`` at shutdown.
"""

from service.auth.issuers import IssuerConfigError, IssuerPolicy, load_trusted_issuers
from service.auth.replay import (
    MemoryReplayCache,
    RedisReplayCache,
    ReplayCache,
    create_replay_cache,
)
from service.auth.verify import (
    AUTH_DISABLED_WARNING,
    AuthFailure,
    Caller,
    JwtVerifier,
    audience_for,
    build_verifier,
    discovery_audience,
    explain_audience,
    feedback_audience,
    service_audience,
)

__all__ = [
    "AUTH_DISABLED_WARNING",
    "AuthFailure",
    "Caller",
    "IssuerConfigError",
    "IssuerPolicy",
    "JwtVerifier",
    "MemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "audience_for",
    "build_verifier",
    "create_replay_cache",
    "discovery_audience",
    "explain_audience",
    "feedback_audience",
    "load_trusted_issuers",
    "service_audience",
]

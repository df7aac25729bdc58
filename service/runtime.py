"""Process-wide objects, built once at start-up and closed on shutdown.

Routes reach them through ``request.app.state.runtime``; nothing here is created
per request (pooled HTTP client, JWT verifier, store, compiled tables).
"""

from __future__ import annotations

import logging

import httpx
from fastapi import Request

from cds_hooks.errors import Unauthenticated
from service.api.parsing import HookCall
from service.auth import AUTH_DISABLED_WARNING, Caller, JwtVerifier, audience_for, build_verifier
from service.clock import Clock
from service.config import Settings
from service.fhir.client import create_http_client
from service.observability.metrics import Metrics
from service.pipeline import HookOutcome, HookPipeline

log = logging.getLogger("oih_cds.runtime")


class Runtime:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.pipeline = HookPipeline(settings, clock)
        self.http: httpx.AsyncClient | None = None
        self.verifier: JwtVerifier | None = None

    async def start(self) -> None:
        """Build what every request shares; a bad issuer file stops the start-up here."""
        self.http = create_http_client(self.settings)
        self.verifier = build_verifier(self.settings, self.http)
        if self.verifier is None:
            log.warning(AUTH_DISABLED_WARNING)
        else:
            await self.verifier.warm_up()

    async def close(self) -> None:
        if self.verifier is not None:
            await self.verifier.aclose()
        if self.http is not None:
            await self.http.aclose()

    async def authenticate(self, request: Request, path: str) -> Caller | None:
        """Verify the caller's JWT for ``path``; the audience is under OIH_PUBLIC_BASE_URL.

        The audience is never taken from ``request.url``: proxies and tunnels change it.
        """
        if self.verifier is None:
            return None
        audience = audience_for(self.settings.public_base_url, path)
        try:
            caller = await self.verifier.verify(request.headers.get("authorization"), audience)
        except Unauthenticated as exc:
            self.metrics.auth_failures.labels(exc.reason).inc()
            request.state.log_fields = {"error": f"auth:{exc.reason}"}
            raise
        request.state.caller = caller
        return caller

    def record_outcome(self, request: Request, call: HookCall, outcome: HookOutcome) -> None:
        """Metrics and the request's log fields for one answered hook call (no PHI)."""
        topics = []
        for card in outcome.cards:
            topic = card.source.topic.code if card.source.topic else "none"
            topics.append(topic)
            self.metrics.cards.labels(call.spec.id, topic, str(card.indicator)).inc()
        fields = {
            "service": call.spec.id,
            "hook": call.spec.hook,
            "hookInstance": call.request.hookInstance,
            "cards": len(outcome.cards),
            "topics": topics,
        }
        caller = getattr(request.state, "caller", None)
        if isinstance(caller, Caller):
            fields.update(iss=caller.iss, tenant=caller.tenant, jti=caller.jti)
        request.state.log_fields = fields

    async def readiness(self) -> dict[str, bool]:
        return {"config": True, "httpClient": self.http is not None and not self.http.is_closed}

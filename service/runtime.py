"""Process-wide objects, built once at start-up and closed on shutdown.

Routes reach them through ``request.app.state.runtime``; nothing here is created per
request (rule thresholds, value sets, pooled HTTP client, JWT verifier, database).
Thresholds and value sets load in the constructor, so a bad ``OIH_RULES_FILE`` stops
the start-up before the server accepts a request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx
from fastapi import Request

from cds_hooks.errors import ServiceUnavailable, Unauthenticated
from cds_hooks.feedback import FeedbackItem
from cds_hooks.models import new_uuid
from rules.settings import load_rule_settings
from rules.valuesets import load_value_sets
from service.api.parsing import HookCall
from service.auth import AUTH_DISABLED_WARNING, Caller, JwtVerifier, audience_for, build_verifier
from service.cards import IdFactory
from service.clock import Clock
from service.config import Settings
from service.fhir.client import HttpxFhirClient, create_http_client
from service.maintenance import Maintenance
from service.observability.metrics import Metrics
from service.patient_key import patient_keyer
from service.pipeline import HookOutcome, HookPipeline
from service.snooze_cache import SnoozeCache
from service.storage import IssuedCard, IssuedResponse, Store, create_store, migrate
from service.storage.recorder import CardRecorder

log = logging.getLogger("oih_cds.runtime")


class Runtime:
    def __init__(self, settings: Settings, clock: Clock, id_factory: IdFactory = new_uuid) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.rule_settings = load_rule_settings(settings.rules_file)
        self.pipeline = HookPipeline(
            settings, clock, self.metrics, self.rule_settings, load_value_sets(), id_factory
        )
        self.http: httpx.AsyncClient | None = None
        self.verifier: JwtVerifier | None = None
        self.store: Store | None = None
        self.recorder: CardRecorder | None = None
        self.snoozes: SnoozeCache | None = None
        self.maintenance: Maintenance | None = None

    async def start(self) -> None:
        """Build what every request shares; bad issuers or an unreachable database stop here."""
        if not self.settings.database_url:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = self.settings.effective_database_url
        await migrate(url)
        keyer = patient_keyer(self.settings)  # None: snoozing is off (logged)
        self.store = create_store(
            url,
            clock=self.clock,
            keep_user_comments=self.settings.keep_user_comments,
            snooze_days=self.rule_settings.snooze_days if keyer is not None else None,
        )
        if keyer is not None:
            self.snoozes = SnoozeCache(
                self.store.all_active_snoozes,
                self.clock,
                refresh_seconds=self.settings.snooze_refresh_seconds,
                on_error=self.metrics.snooze_refresh_errors.inc,
            )
            await self.snoozes.start()
            self.pipeline.keyer = keyer
            self.pipeline.snooze_lookup = self.snoozes.active
        self.recorder = CardRecorder(
            self.store.record_responses, on_dropped=self.metrics.card_records_dropped.inc
        )
        self.pipeline.warm_up()
        self.http = create_http_client(self.settings)
        self.pipeline.fhir = HttpxFhirClient.from_settings(self.http, self.settings)
        self.verifier = build_verifier(self.settings, self.http)
        if self.verifier is None:
            log.warning(AUTH_DISABLED_WARNING)
        else:
            await self.verifier.warm_up()
        # Last, so that a start-up that fails above leaves no task behind.
        self.maintenance = Maintenance(
            self.store,
            self.clock,
            interval_seconds=self.settings.maintenance_interval_seconds,
            comment_retention_days=self.settings.comment_retention_days,
            on_run=self.metrics.maintenance_runs.inc,
            on_error=self.metrics.maintenance_errors.inc,
        )
        self.maintenance.start()

    async def close(self) -> None:
        if self.maintenance is not None:
            await self.maintenance.close()
        await self.drain()
        if self.snoozes is not None:
            await self.snoozes.close()
        if self.verifier is not None:
            await self.verifier.aclose()
        if self.http is not None:
            await self.http.aclose()
        if self.store is not None:
            await self.store.close()

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

    async def record_outcome(
        self, request: Request, call: HookCall, outcome: HookOutcome, *, shown: bool = True
    ) -> None:
        """Remember shown cards (to join feedback), count them, fill the log line. No PHI.

        ``shown`` is false for the explain endpoint: its cards are not shown to a clinician
        and must not inflate the "shown" counts of the feedback report or the metrics.
        """
        topics = []
        for card in outcome.cards:
            topic = card.source.topic.code if card.source.topic else "none"
            topics.append(topic)
            if shown:
                self.metrics.cards.labels(call.spec.id, topic, str(card.indicator)).inc()
        if shown:
            for topic in outcome.snoozed:
                self.metrics.cards_snoozed.labels(topic).inc()
        caller = getattr(request.state, "caller", None)
        iss = caller.iss if isinstance(caller, Caller) else None
        tenant = caller.tenant if isinstance(caller, Caller) else None
        if shown and outcome.cards and self.recorder is not None:
            # Queued, written in batches off the response path (see CardRecorder);
            # feedback joins to the card by uuid whenever it arrives.
            self.recorder.submit(
                IssuedResponse(
                    call.spec.id,
                    call.request.hookInstance,
                    tuple(
                        IssuedCard.from_cards(outcome.cards, outcome.patient_key, outcome.snoozing)
                    ),
                    iss,
                    tenant,
                )
            )
        fields: dict[str, object] = {
            "service": call.spec.id,
            "hook": call.spec.hook,
            "hookInstance": call.request.hookInstance,
            "cards": len(outcome.cards),
            "topics": topics,
            "snoozed": sorted(outcome.snoozed),
            "gaps": len(outcome.timeline.gaps) if outcome.timeline else 0,
            "fetched": list(outcome.gathered.fetched) if outcome.gathered else [],
        }
        if isinstance(caller, Caller):
            fields.update(iss=caller.iss, tenant=caller.tenant, jti=caller.jti)
        request.state.log_fields = fields

    async def drain(self) -> None:
        """Write the card records still queued (at shutdown, before feedback, in tests)."""
        if self.recorder is not None:
            await self.recorder.flush()

    async def store_feedback(
        self, service_id: str, items: Sequence[FeedbackItem], iss: str | None, tenant: str | None
    ) -> int:
        """Store feedback items idempotently; 503 (retry) when the store is down."""
        if self.store is None:
            raise ServiceUnavailable("the feedback store is not ready; retry later")
        await self.drain()  # so that feedback on a card just shown finds its record
        try:
            stored: int = await self.store.store_feedback(service_id, items, iss, tenant)
        except Exception:
            log.exception("could not store feedback", extra={"service": service_id})
            raise ServiceUnavailable(
                "the feedback store is unavailable; retry later (storage is idempotent)"
            ) from None
        for item in items:
            self.metrics.feedback.labels(str(item.outcome)).inc()
        if self.snoozes is not None and any(item.outcome == "accepted" for item in items):
            await self.snoozes.refresh()  # a snooze made here counts from the next call
        return stored

    async def readiness(self) -> dict[str, bool]:
        return {
            "config": True,
            "httpClient": self.http is not None and not self.http.is_closed,
            "database": self.store is not None and await self.store.ping(),
        }

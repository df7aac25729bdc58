"""One hook call, end to end: gather data, build the timeline, assess, render cards.

Routes stay thin: they parse the request and hand a :class:`HookCall` to
:meth:`HookPipeline.run`. The result keeps the assessment so that the explain endpoint
can show the numbers behind the cards without the hook path paying for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from cds_hooks.models import Card, new_uuid
from rules.assessment import Assessment, HookKind, assess
from rules.cards import evaluate_cards
from rules.findings import RuleDecision
from rules.settings import RuleSettings
from rules.snooze import Snoozes, snoozable
from rules.timeline import PatientTimeline
from service.api.parsing import HookCall
from service.auth import Caller
from service.cards import CardRenderer, IdFactory
from service.catalog import REQUIRED_SLOTS
from service.clock import Clock
from service.config import Settings
from service.fhir.client import FhirClient
from service.fhir.gather import GatherResult, gather
from service.normalize.timeline import build_timeline
from service.observability.metrics import Metrics
from service.patient_key import PatientKeyer, namespace

#: (patient key, topics, now) -> the topics snoozed at ``now``, each with its end. In
#: memory (``service/snooze_cache.py``): a hook call never waits for the database.
SnoozeLookup = Callable[[str, Iterable[str], datetime], Mapping[str, datetime]]


@dataclass
class HookOutcome:
    cards: list[Card]
    call: HookCall | None = None
    gathered: GatherResult | None = None
    timeline: PatientTimeline | None = None
    assessment: Assessment | None = None
    decisions: list[RuleDecision] = field(default_factory=list)
    #: Set only when a card offers a snooze: the patient key and, per card uuid, the
    #: uuid of its snoozing suggestion (stored with the card record, never logged).
    patient_key: str | None = None
    snoozing: dict[str, str] = field(default_factory=dict)
    #: Topics hidden by a snooze on this call, each with the last day of the snooze.
    snoozed: dict[str, date] = field(default_factory=dict)


class HookPipeline:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        metrics: Metrics,
        rule_settings: RuleSettings,
        value_sets: Mapping[str, frozenset[tuple[str, str]]],
        id_factory: IdFactory = new_uuid,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.rule_settings = rule_settings
        self.value_sets = value_sets
        self.id_factory = id_factory
        self.fhir: FhirClient | None = None  # set at start-up (pooled client)
        # Both set at start-up when this deployment can remember snoozes.
        self.keyer: PatientKeyer | None = None
        self.snooze_lookup: SnoozeLookup | None = None

    async def run(self, call: HookCall, caller: Caller | None = None) -> HookOutcome:
        gathered = await self._gather(call, caller)
        now = self.clock()
        as_of = now.date()
        context = call.request.context
        timeline = build_timeline(
            gathered.slots,
            context.get("draftOrders") if call.spec.is_order_hook else None,
            as_of,
            context_encounter_id=context.get("encounterId"),
        )
        for gap in timeline.gaps:
            self.metrics.data_gaps.labels(gap.code).inc()
        hook = HookKind.ORDER if call.spec.is_order_hook else HookKind.REVIEW
        assessment = assess(timeline, self.rule_settings, hook, value_sets=self.value_sets)
        snoozes = Snoozes(
            available=self.keyer is not None and self.snooze_lookup is not None,
            days=self.rule_settings.snooze_days,
        )
        findings, decisions = evaluate_cards(assessment, snoozes)
        patient_key: str | None = None
        snoozed: dict[str, date] = {}
        topics = snoozable(findings) if snoozes.available else set()
        if topics and self.keyer is not None and self.snooze_lookup is not None:
            # Looked up only when a card that a snooze could hide is about to be shown.
            space = namespace(
                call.request.fhirServer,
                caller.iss if caller else None,
                caller.tenant if caller else None,
            )
            patient_key = self.keyer.key(space, str(context["patientId"]))
            found = self.snooze_lookup(patient_key, topics, now)
            active = {topic: end.date() for topic, end in found.items()}
            if active:
                snoozes = replace(snoozes, until=active)
                findings, decisions = evaluate_cards(assessment, snoozes)
                shown = {finding.topic for finding in findings}
                snoozed = {topic: end for topic, end in active.items() if topic not in shown}
        renderer = CardRenderer(
            patient_id=str(context["patientId"]),
            user_id=context.get("userId"),
            as_of=as_of,
            id_factory=self.id_factory,
        )
        cards = renderer.render(findings)
        return HookOutcome(
            cards=cards,
            call=call,
            gathered=gathered,
            timeline=timeline,
            assessment=assessment,
            decisions=decisions,
            patient_key=patient_key if renderer.snoozing else None,
            snoozing=renderer.snoozing,
            snoozed=snoozed,
        )

    def warm_up(self) -> None:
        """Run one synthetic patient through parsing, rules and rendering at start-up.

        Validators, drug tables and code matchers are built on first use; doing it here
        keeps that cost (~20 ms) off the first clinician's request.
        """
        from service.scenarios import build_request

        as_of = self.clock().date()
        body = build_request("classic-oih", "order-sign", as_of)
        timeline = build_timeline(body["prefetch"], body["context"].get("draftOrders"), as_of)
        assessment = assess(
            timeline, self.rule_settings, HookKind.ORDER, value_sets=self.value_sets
        )
        findings, _ = evaluate_cards(assessment)
        CardRenderer(patient_id="warm-up", user_id=None, as_of=as_of).render(findings)

    async def _gather(self, call: HookCall, caller: Caller | None) -> GatherResult:
        if self.fhir is None:
            raise RuntimeError("the pipeline is used before start-up created its FHIR client")
        narrowed = (
            set(caller.allowed_fhir_servers) if caller and caller.allowed_fhir_servers else None
        )
        return await gather(
            call.request,
            call.spec.prefetch,
            REQUIRED_SLOTS,
            self.fhir,
            self.settings,
            extra_allowed_servers=narrowed,
            on_fetch=self._observe_fetch,
        )

    def _observe_fetch(self, slot: str, ms: float, error: str | None) -> None:
        """Every FHIR query, including those of calls that end in 412, reaches the metrics."""
        self.metrics.fhir_latency.labels(slot).observe(ms / 1000)
        if error is not None:
            self.metrics.fhir_errors.labels(slot, error).inc()

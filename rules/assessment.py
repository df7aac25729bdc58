"""Everything the card rules need about one patient, computed once per hook call.

``assess`` runs the MME engine and every derived quantity (D1-D7, exclusions, risk
modifiers) over a :class:`~rules.timeline.PatientTimeline`; the card rules in
``rules.cards`` only read the resulting :class:`Assessment`. Pure: ``as_of`` comes
from the timeline, value sets and thresholds are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from rules.derived.acute import AcuteConfounders, assess_acute_confounders
from rules.derived.codematch import concept_matcher
from rules.derived.common import DailySeries
from rules.derived.escalation import Escalation, assess_escalation
from rules.derived.exclusions import Exclusions, detect_exclusions
from rules.derived.failed_taper import FailedTaper, failed_taper
from rules.derived.ltot import LongTermOpioidTherapy, long_term_opioid_therapy
from rules.derived.modifiers import (
    RiskModifier,
    RiskModifiers,
    concurrent_benzodiazepine,
    detect_risk_modifiers,
    naloxone_on_file,
)
from rules.derived.pain_change import PainChange, assess_pain_change
from rules.derived.taper import RecentTaper, recent_taper
from rules.mme import ExposureConfig, MmeStatus, MmeTimeline, OrderExposure, patient_mme
from rules.settings import RuleSettings
from rules.timeline import MedicationOrder, OrderSource, PatientTimeline

#: Ingredients whose metabolites accumulate in renal impairment (spec §6.8).
RENAL_RISK_INGREDIENTS = frozenset({"7052", "2670", "3423"})  # morphine, codeine, hydromorphone
BUPRENORPHINE = "1819"
METHADONE = "6813"
_EPSILON = 0.05  # MME/day: below this a draft neither raises nor lowers the total


class HookKind(StrEnum):
    """Whether the clinician is ordering (prospective) or reviewing the chart."""

    ORDER = "order"  # order-sign, order-select: drafts are evaluated
    REVIEW = "review"  # patient-view: retrospective


@dataclass(frozen=True, slots=True)
class Assessment:
    as_of: date
    hook: HookKind
    settings: RuleSettings
    mme: MmeTimeline
    daily: Mapping[date, float]
    exclusions: Exclusions
    ltot: LongTermOpioidTherapy
    history_escalation: Escalation  # without the draft
    escalation: Escalation  # with the draft's projected MME on order hooks
    pain: PainChange  # anchored on the escalation
    taper: RecentTaper
    taper_pain: PainChange | None  # anchored on the taper, when there is one
    failed_taper: FailedTaper  # card C's second trigger
    acute: AcuteConfounders
    modifiers: RiskModifiers
    naloxone: RiskModifier
    benzodiazepine: RiskModifier
    opioid_orders: tuple[OrderExposure, ...]  # in the lookback, not ignored
    draft_opioids: tuple[OrderExposure, ...]
    incomplete: tuple[OrderExposure, ...]  # opioid orders whose MME was not computed

    @property
    def has_opioids(self) -> bool:
        return bool(self.opioid_orders or self.draft_opioids)

    @property
    def draft_raises_mme(self) -> bool:
        return bool(self.draft_opioids) and (
            self.mme.projected.value > self.mme.current.value + _EPSILON
        )

    @property
    def total_mme(self) -> float:
        """Today's total: with the drafts on an order hook, else the current total."""
        return self.mme.projected.value if self.hook is HookKind.ORDER else self.mme.current.value

    def _recent_orders(self) -> Iterator[OrderExposure]:
        """Opioid orders running in the last 90 days (or with no end), and the drafts."""
        recent = self.as_of - timedelta(days=90)
        return (
            o for o in self.opioid_orders + self.draft_opioids if o.end is None or o.end >= recent
        )

    @property
    def on_buprenorphine(self) -> bool:
        return any(o.mme.ingredient_rxcui == BUPRENORPHINE for o in self._recent_orders())

    @property
    def on_moud(self) -> bool:
        """Methadone or buprenorphine for opioid use disorder, recently or drafted."""
        return any(o.mme.moud for o in self._recent_orders())

    @property
    def on_methadone(self) -> bool:
        """Methadone counted in MME: active today, or drafted (MOUD is never counted)."""
        return any(
            o.mme.ingredient_rxcui == METHADONE
            and o.mme.counts
            and (o.active_today or o.mme.source is OrderSource.DRAFT)
            for o in self.opioid_orders + self.draft_opioids
        )

    @property
    def renal_risk_opioid(self) -> bool:
        return any(
            o.mme.ingredient_rxcui in RENAL_RISK_INGREDIENTS and o.active_today
            for o in self.opioid_orders + self.draft_opioids
        )


def oud_reason_test(
    value_sets: Mapping[str, frozenset[tuple[str, str]]] | None = None,
) -> Callable[[MedicationOrder], bool]:
    """Whether an order's reasonCode is opioid use disorder (its methadone is then MOUD).

    The same concept as the OUD risk modifier (``codes.yaml`` ``opioid_use_disorder``).
    """
    matcher = concept_matcher("opioid_use_disorder", value_sets)
    return lambda order: matcher.first_match(order.reasons) is not None


def patient_mme_for(
    timeline: PatientTimeline,
    settings: RuleSettings,
    value_sets: Mapping[str, frozenset[tuple[str, str]]] | None = None,
) -> MmeTimeline:
    """The MME timeline as the rules see it (look-back, MOUD): the assessment and the
    sandbox chart both use it, so that they agree on what is counted."""
    return patient_mme(
        timeline,
        config=ExposureConfig(lookback_days=settings.lookback_days),
        for_oud=oud_reason_test(value_sets),
    )


def assess(
    timeline: PatientTimeline,
    settings: RuleSettings,
    hook: HookKind,
    *,
    value_sets: Mapping[str, frozenset[tuple[str, str]]] | None = None,
) -> Assessment:
    as_of = timeline.as_of
    mme = patient_mme_for(timeline, settings, value_sets)
    # One list indexed by day offset, shared by D2, D3 and D6 (no per-day dict lookups).
    daily = DailySeries(mme.start, [value.value for value in mme.daily])
    projected = mme.projected.value if hook is HookKind.ORDER and timeline.drafts else None
    history = assess_escalation(daily, as_of, settings)
    escalation = (
        assess_escalation(daily, as_of, settings, projected_mme=projected, steps=history.steps)
        if projected is not None
        else history
    )
    pain = assess_pain_change(timeline.pain_scores, escalation.anchor, as_of, settings)
    taper = recent_taper(daily, as_of, settings)
    previous_taper = failed_taper(daily, as_of, settings, projected_mme=projected)
    taper_pain = (
        assess_pain_change(timeline.pain_scores, taper.recent_window.start, as_of, settings)
        if taper.recent_taper
        else None
    )
    acute = assess_acute_confounders(
        conditions=timeline.conditions,
        encounters=timeline.encounters,
        procedures=timeline.procedures,
        post_window=pain.post_window,
        settings=settings,
        value_sets=value_sets,
    )
    opioid_orders = tuple(
        o
        for o in mme.orders
        if o.mme.source is not OrderSource.DRAFT
        and o.ignored is None
        and o.mme.status is not MmeStatus.NOT_OPIOID
    )
    drafts = tuple(
        o
        for o in mme.orders
        if o.mme.source is OrderSource.DRAFT and o.mme.status is not MmeStatus.NOT_OPIOID
    )
    incomplete = tuple(o for o in opioid_orders + drafts if o.mme.status is MmeStatus.NOT_COMPUTED)
    return Assessment(
        as_of=as_of,
        hook=hook,
        settings=settings,
        mme=mme,
        daily=daily,
        exclusions=detect_exclusions(timeline, settings, value_sets=value_sets),
        ltot=long_term_opioid_therapy(daily, as_of, settings),
        history_escalation=history,
        escalation=escalation,
        pain=pain,
        taper=taper,
        taper_pain=taper_pain,
        failed_taper=previous_taper,
        acute=acute,
        modifiers=detect_risk_modifiers(timeline, settings, value_sets=value_sets),
        naloxone=naloxone_on_file(timeline, settings, value_sets=value_sets),
        benzodiazepine=concurrent_benzodiazepine(timeline, settings, value_sets=value_sets),
        opioid_orders=opioid_orders,
        draft_opioids=drafts,
        incomplete=incomplete,
    )

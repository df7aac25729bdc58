"""Auxiliary card: offer naloxone.

CDC 2022 Rec 8: offer naloxone when overdose risk is increased (50 MME/day or more,
benzodiazepines, opioid use disorder, overdose history, sleep-disordered breathing).
*When* another card fires, a risk factor is present and no naloxone is on file within
two years, *then* offer an order for naloxone nasal spray.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules.assessment import Assessment
from rules.cards.base import CardRule, Outcome, build_finding, meta, mme, silent, suggestion
from rules.findings import Finding, RuleDecision, Severity, SuggestionKind

MODULE = "offer_naloxone"
TOPIC = "offer-naloxone"
COMPANIONS = (
    "oih-evaluate",
    "avoid-escalation",
    "consider-rotation",
    "reassess-pain",
    "post-taper-pain",
)


def _risk_factors(a: Assessment) -> list[str]:
    factors: list[str] = []
    if a.total_mme >= a.settings.mme_reassess:
        factors.append(f"{mme(a.total_mme)} MME/day")
    if a.benzodiazepine.present:
        factors.append("a benzodiazepine")
    mods = a.modifiers
    if mods.opioid_use_disorder.present:
        factors.append("opioid use disorder")
    if mods.overdose_history.present:
        factors.append("a history of overdose")
    if mods.sleep_disordered_breathing.present:
        factors.append("sleep-disordered breathing")
    if a.taper.recent_taper:
        factors.append("a recent taper (tolerance may be lost)")
    return factors


def evaluate(a: Assessment, fired: Mapping[str, Finding]) -> Outcome:
    if not any(topic in fired for topic in COMPANIONS):
        return silent(TOPIC, "Offered only alongside another opioid card, and none fired.")
    if a.naloxone.present:
        return silent(TOPIC, "Naloxone is on file: " + a.naloxone.reason)
    factors = _risk_factors(a)
    if not factors:
        return silent(TOPIC, "No overdose risk factor that calls for naloxone (CDC Rec 8).")
    urgent = (
        a.modifiers.overdose_history.present
        or a.benzodiazepine.present
        or a.total_mme >= a.settings.mme_high
    )
    severity = Severity.WARNING if urgent else Severity.INFO
    listed = ", ".join(factors)
    summary = f"No naloxone on file; overdose risk ({listed[:70]}). Offer naloxone."
    detail = [
        f"Risk factors in the record: {listed}. No naloxone order or dispense in the last "
        f"{a.settings.naloxone_lookback_days} days.",
        meta(MODULE).texts["why"],
    ]
    finding = build_finding(
        MODULE, severity, summary, detail, [suggestion(MODULE, SuggestionKind.ORDER_NALOXONE)]
    )
    return Outcome(
        RuleDecision(TOPIC, True, f"Risk factors: {listed}; no naloxone on file."), finding
    )


RULE = CardRule(TOPIC, MODULE, evaluate)
